package resources

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/longrun/sandstorm"
)

// Manager is what the resources need of *sandstorm.Manager.
type Manager interface {
	Get(ctx context.Context, name string) (*sandstorm.Sandbox, error)
	List(ctx context.Context) ([]sandstorm.Sandbox, error)
	ListSessions(ctx context.Context, sandbox, identifier string) ([]sandstorm.Session, error)
	GetSessionLogs(ctx context.Context, r sandstorm.LogsRequest) (*sandstorm.LogChunk, error)
	ProbeSessions(ctx context.Context, sandbox string, ids []string,
	) (map[string]sandstorm.SessionProbe, error)
	WatchSessions(ctx context.Context, sandbox string, last map[string]sandstorm.SessionProbe,
		wait time.Duration) (map[string]sandstorm.SessionProbe, error)
	OnChange(fn func(sandstorm.Change))
}

var _ Manager = (*sandstorm.Manager)(nil)

// Options tune a Poller. Zero values take the defaults.
type Options struct {
	// Logger receives the Poller's logs. Default: discard.
	Logger *slog.Logger
	// StatusInterval is how often a subscribed sandbox's status is read.
	// Default 1s, so a change is seen within two seconds, well inside Fly's 5/s for
	// GET machine.
	StatusInterval time.Duration
	// WatchSpacing is the least time between the starts of two session
	// watches of one sandbox, so a log that grows without pause costs at
	// most one exec per WatchSpacing. Default 1s, Fly's exec rate per machine.
	WatchSpacing time.Duration
	// MaxWatch is how long one session watch waits inside the machine.
	// Default and upper bound sandstorm.MaxWatch.
	MaxWatch time.Duration
	// Debounce is the least time between two updates of one URI. Default 250ms.
	Debounce time.Duration
	// IdleRetry is how often sessions are listed again while none of the
	// watched ones runs or the sandbox is not running; that costs no Fly
	// request. Default 5s.
	IdleRetry time.Duration
	// MaxBackoff caps the delay after repeated failures. Default 30s.
	MaxBackoff time.Duration
}

func (o Options) withDefaults() Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.StatusInterval, time.Second)
	def(&o.WatchSpacing, time.Second)
	def(&o.MaxWatch, sandstorm.MaxWatch)
	o.MaxWatch = min(o.MaxWatch, sandstorm.MaxWatch)
	def(&o.Debounce, 250*time.Millisecond)
	def(&o.IdleRetry, 5*time.Second)
	def(&o.MaxBackoff, 30*time.Second)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}

	return o
}

// Log attribute keys.
const (
	keySandbox = "sandbox"
	keyURI     = "uri"
	keyError   = "error"
)

// changePolled is an internal change: a status poll saw the sandbox change.
const changePolled = "polled"

// Poller keeps the resource list current and tells subscribers when their
// resources change. It polls only sandboxes with subscribers, and only
// between Start and Stop.
type Poller struct {
	srv  *server.MCPServer
	m    Manager
	opts Options
	log  *slog.Logger
	reg  *registry
	thr  *throttle
	wake chan struct{}

	mu        sync.Mutex
	running   bool // between Start and Stop
	changes   []sandstorm.Change
	seed      []string // sandboxes found at startup, not yet listed
	seedReady bool
	cancel    context.CancelFunc
	active    map[string]int // sandbox -> goroutines polling it
	wg        sync.WaitGroup

	// Owned by the run goroutine, which writes loops under mu.
	seeding bool
	deleted map[string]bool // deleted while seeding
	listed  map[string]bool
	loops   map[string]*sandboxLoops
}

// sandboxLoops are the goroutines polling one sandbox; either may be nil.
type sandboxLoops struct {
	status *loop
	watch  *loop
}

// Register adds the resource templates to s and returns the Poller that
// lists each sandbox's status resource and sends updates to subscribers
// once started. hooks must be the hooks s was built with (server.WithHooks),
// and s needs server.WithResourceCapabilities(true, true) for clients to
// subscribe and hear of list changes.
func Register(s *server.MCPServer, hooks *server.Hooks, m Manager, opts Options) *Poller {
	p := newPoller(s, m, opts)
	s.AddResourceTemplates(templates(m)...)
	p.addHooks(hooks)
	m.OnChange(p.onChange)

	return p
}

func newPoller(s *server.MCPServer, m Manager, opts Options) *Poller {
	opts = opts.withDefaults()
	p := &Poller{srv: s, m: m, opts: opts, log: opts.Logger, reg: newRegistry(),
		wake: make(chan struct{}, 1), active: make(map[string]int),
		listed: make(map[string]bool), loops: make(map[string]*sandboxLoops)}
	p.thr = newThrottle(opts.Debounce, realClock{}, p.deliver)
	p.reg.changed = p.signal

	return p
}

// addHooks records subscriptions of both protocol eras in the registry.
func (p *Poller) addHooks(h *server.Hooks) {
	h.AddAfterSubscribe(func(ctx context.Context, _ any, r *mcp.SubscribeRequest,
		_ *mcp.EmptyResult,
	) {
		if cs := server.ClientSessionFromContext(ctx); cs != nil {
			p.reg.subscribe(cs.SessionID(), r.Params.URI)
		}
	})
	h.AddAfterUnsubscribe(func(ctx context.Context, _ any, r *mcp.UnsubscribeRequest,
		_ *mcp.EmptyResult,
	) {
		if cs := server.ClientSessionFromContext(ctx); cs != nil {
			p.reg.unsubscribe(cs.SessionID(), r.Params.URI)
		}
	})
	h.AddOnUnregisterSession(func(_ context.Context, cs server.ClientSession) {
		p.reg.dropSession(cs.SessionID())
	})
	h.AddBeforeSubscriptionsListen(func(ctx context.Context, id any,
		r *mcp.SubscriptionsListenRequest,
	) {
		cs := server.ClientSessionFromContext(ctx)
		uris := r.Params.Notifications.ResourceSubscriptions
		if cs == nil || len(uris) == 0 {
			return
		}
		p.reg.listen(cs, id, uris)
		// The request's context ends when the stream does, however it ends:
		// cancelled by the client, closed by the transport, or failed.
		context.AfterFunc(ctx, func() { p.reg.endListen(cs, id) })
	})
	h.AddAfterSubscriptionsListen(func(ctx context.Context, id any,
		_ *mcp.SubscriptionsListenRequest, _ *mcp.SubscriptionsListenResult,
	) {
		if cs := server.ClientSessionFromContext(ctx); cs != nil {
			p.reg.endListen(cs, id)
		}
	})
}

// Start lists the sandboxes that exist and begins serving subscriptions,
// until ctx ends or Stop is called. Starting twice has no effect.
func (p *Poller) Start(ctx context.Context) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cancel != nil {
		return
	}
	ctx, p.cancel = context.WithCancel(ctx)
	p.running, p.seeding = true, true
	p.wg.Add(2)
	go p.seedList(ctx)
	go p.run(ctx)
	p.signal()
}

// Stop ends all polling and waits for the Poller's goroutines to return.
// Updates still pending are dropped. It is safe to call more than once, and
// without Start.
func (p *Poller) Stop() {
	p.mu.Lock()
	if p.cancel == nil {
		p.cancel = func() {}
	}
	cancel := p.cancel
	p.running, p.changes = false, nil
	p.mu.Unlock()
	cancel()
	p.wg.Wait()
	p.thr.close()
}

// Polling reports the sandboxes that goroutines are polling for their
// subscribers, sorted. A sandbox leaves the list once its last subscriber
// has gone and its goroutines have returned.
func (p *Poller) Polling() []string {
	p.mu.Lock()
	defer p.mu.Unlock()

	return slices.Sorted(maps.Keys(p.active))
}

// Following reports whether changes to the resource at uri are reported now:
// it has a subscriber and the first reading since it was subscribed is
// taken. A change between a subscription and that reading, which takes one
// or two Fly requests, is not reported.
func (p *Poller) Following(uri string) bool {
	r, ok := parseURI(uri)
	if !ok {
		return false
	}
	p.mu.Lock()
	ls := p.loops[r.sandbox]
	p.mu.Unlock()
	if ls == nil {
		return false
	}
	if r.kind == kindStatus {
		return ls.status.isReady()
	}
	in := ls.watch.serving()
	if r.kind == kindLog && !slices.Contains(in.logs, r.session) ||
		r.kind == kindSessions && !in.sessions {
		return false
	}

	return ls.watch.isReady()
}

// onChange receives the Manager's changes. It runs on the Manager's
// goroutine, so it only queues the change. Changes before Start need no
// queueing, since Start lists the sandboxes as they are then, and none are
// kept after Stop.
func (p *Poller) onChange(c sandstorm.Change) {
	p.mu.Lock()
	if !p.running {
		p.mu.Unlock()
		return
	}
	p.changes = append(p.changes, c)
	p.mu.Unlock()
	p.signal()
}

// signal wakes the run goroutine without blocking.
func (p *Poller) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// run applies changes and subscription updates as they come.
func (p *Poller) run(ctx context.Context) {
	defer p.wg.Done()
	for {
		select {
		case <-ctx.Done():
			for name := range p.loops {
				p.setLoops(ctx, name, interest{})
			}
			return
		case <-p.wake:
		}
		p.mu.Lock()
		changes, seed, seedReady := p.changes, p.seed, p.seedReady
		p.changes, p.seed, p.seedReady = nil, nil, false
		p.mu.Unlock()
		if seedReady {
			p.applySeed(seed)
		}
		for _, c := range changes {
			p.apply(c)
		}
		p.reconcile(ctx)
	}
}

// seedList finds the sandboxes that exist at startup, retrying until it can.
func (p *Poller) seedList(ctx context.Context) {
	defer p.wg.Done()
	bo := backoff{min: time.Second, max: p.opts.MaxBackoff}
	for {
		list, err := p.m.List(ctx)
		if err == nil {
			var names []string
			for _, sb := range list {
				// List also reports Fly apps with the prefix that have no
				// record, which cannot be read; they have no creation time.
				if !sb.CreatedAt.IsZero() {
					names = append(names, sb.Name)
				}
			}
			p.mu.Lock()
			p.seed, p.seedReady = names, true
			p.mu.Unlock()
			p.signal()

			return
		}
		if ctx.Err() != nil {
			return
		}
		d := bo.next()
		p.log.Warn("list sandboxes for resources/list; retrying", keyError, err, "in", d)
		if !sleep(ctx, d) {
			return
		}
	}
}

func (p *Poller) applySeed(names []string) {
	var add []server.ServerResource
	for _, name := range names {
		if !p.deleted[name] && !p.listed[name] {
			p.listed[name] = true
			add = append(add, statusResource(p.m, name))
		}
	}
	if len(add) > 0 {
		// One list_changed for them all.
		p.srv.AddResources(add...)
	}
	p.seeding, p.deleted = false, nil
}

// apply acts on one change.
func (p *Poller) apply(c sandstorm.Change) {
	loops := p.loops[c.Sandbox]
	switch c.Kind {
	case sandstorm.ChangeCreated:
		delete(p.deleted, c.Sandbox)
		p.list(c.Sandbox)
		p.thr.mark(StatusURI(c.Sandbox))
	case sandstorm.ChangeDeleted:
		if p.seeding {
			if p.deleted == nil {
				p.deleted = make(map[string]bool)
			}
			p.deleted[c.Sandbox] = true
		}
		p.unlist(c.Sandbox)
		p.thr.mark(StatusURI(c.Sandbox))
		p.thr.mark(SessionsURI(c.Sandbox))
		for _, id := range p.reg.interests()[c.Sandbox].logs {
			p.thr.mark(LogURI(c.Sandbox, id))
		}
	case sandstorm.ChangeStatus, sandstorm.ChangeLifecycle:
		if loops != nil {
			loops.status.nudge()
			loops.watch.nudge()
		}
	case sandstorm.ChangeSession:
		if loops != nil {
			loops.watch.nudge()
		}
	case changePolled:
		if loops != nil {
			loops.watch.nudge()
		}
	}
}

// list adds a sandbox's status resource to resources/list; mcp-go tells
// clients the list changed.
func (p *Poller) list(name string) {
	if p.listed[name] {
		return
	}
	p.listed[name] = true
	p.srv.AddResources(statusResource(p.m, name))
}

func (p *Poller) unlist(name string) {
	if !p.listed[name] {
		return
	}
	delete(p.listed, name)
	p.srv.DeleteResources(StatusURI(name))
}

// reconcile starts and stops polling to match the subscriptions. Only
// sandboxes known to exist are polled, so the goroutines are bounded by the
// sandboxes, not by what clients subscribe to.
func (p *Poller) reconcile(ctx context.Context) {
	want := p.reg.interests()
	for name := range want {
		if !p.listed[name] {
			delete(want, name)
		}
	}
	for name := range p.loops {
		if _, ok := want[name]; !ok {
			p.setLoops(ctx, name, interest{})
		}
	}
	for name, in := range want {
		p.setLoops(ctx, name, in)
	}
}

// setLoops starts, updates or stops the loops of one sandbox. It publishes a
// new sandboxLoops rather than changing the old one, which Following reads.
func (p *Poller) setLoops(ctx context.Context, name string, in interest) {
	var ls sandboxLoops
	if old := p.loops[name]; old != nil {
		ls = *old
	}
	switch {
	case in.status && ls.status == nil:
		ls.status = p.startLoop(ctx, name, in, p.statusLoop)
	case !in.status && ls.status != nil:
		ls.status.stop()
		ls.status = nil
	}
	switch {
	case in.watchesSessions() && ls.watch == nil:
		ls.watch = p.startLoop(ctx, name, in, p.watchLoop)
	case in.watchesSessions():
		ls.watch.setInterest(in)
	case ls.watch != nil:
		ls.watch.stop()
		ls.watch = nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if ls.status == nil && ls.watch == nil {
		delete(p.loops, name)
		return
	}
	p.loops[name] = &ls
}

func (p *Poller) startLoop(ctx context.Context, name string, in interest,
	body func(context.Context, string, *loop),
) *loop {
	ctx, cancel := context.WithCancel(ctx)
	l := &loop{cancel: cancel, poke: make(chan struct{}, 1), in: in}
	p.mu.Lock()
	p.active[name]++
	p.mu.Unlock()
	p.wg.Go(func() {
		defer func() {
			p.mu.Lock()
			if p.active[name]--; p.active[name] <= 0 {
				delete(p.active, name)
			}
			p.mu.Unlock()
		}()
		body(ctx, name, l)
	})

	return l
}

// deliver sends notifications/resources/updated for uri to its subscribers.
func (p *Poller) deliver(uri string) {
	sessions, streams := p.reg.targets(uri)
	params := map[string]any{"uri": uri}
	for _, id := range sessions {
		err := p.srv.SendNotificationToSpecificClient(id, mcp.MethodNotificationResourceUpdated,
			params)
		switch {
		case errors.Is(err, server.ErrSessionNotFound):
			p.reg.dropSession(id)
		case err != nil:
			p.log.Warn("send resource update", keyURI, uri, "session", id, keyError, err)
		}
	}
	for _, ls := range streams {
		n := mcp.JSONRPCNotification{
			JSONRPC: mcp.JSONRPC_VERSION,
			Notification: mcp.Notification{
				Method: mcp.MethodNotificationResourceUpdated,
				Params: mcp.NotificationParams{
					// Every message on a listen stream names the stream.
					// mcp-go adds this over HTTP but not over stdio.
					Meta:             map[string]any{mcp.MetaKeySubscriptionID: ls.id},
					AdditionalFields: map[string]any{"uri": uri},
				},
			},
		}
		select {
		case ls.session.NotificationChannel() <- n:
		default:
			p.log.Warn("send resource update: the stream's queue is full", keyURI, uri)
		}
	}
}

// sleep waits for d or until ctx ends, and reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
