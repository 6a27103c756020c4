package resources

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/longrun/sandstorm"
)

// fakeManager is a Manager whose sandboxes, sessions and logs are in memory.
// WatchSessions blocks like the real one until a probe differs from last.
type fakeManager struct {
	mu        sync.Mutex
	boxes     map[string]sandstorm.Sandbox
	sessions  map[string][]string // sandbox -> session ids, oldest first
	probes    map[string]sandstorm.SessionProbe
	logs      map[string]string
	notRun    error // returned by the calls that need a running sandbox
	calls     map[string]int
	changed   chan struct{} // closed when a probe changes
	listeners []func(sandstorm.Change)
}

var _ Manager = (*fakeManager)(nil)

func newFakeManager(boxes ...string) *fakeManager {
	f := &fakeManager{boxes: make(map[string]sandstorm.Sandbox),
		sessions: make(map[string][]string), probes: make(map[string]sandstorm.SessionProbe),
		logs: make(map[string]string), calls: make(map[string]int),
		changed: make(chan struct{})}
	for _, name := range boxes {
		f.boxes[name] = sandstorm.Sandbox{Name: name, Status: sandstorm.StatusRunning,
			CreatedAt: time.Unix(1e9, 0)}
	}

	return f
}

func (f *fakeManager) count(method string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[method]++
}

// callsOf returns how often method was called.
func (f *fakeManager) callsOf(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()

	return f.calls[method]
}

func notFound(what string) error {
	return &sandstorm.Error{Kind: sandstorm.ErrNotFound, Message: "no " + what}
}

func (f *fakeManager) Get(_ context.Context, name string) (*sandstorm.Sandbox, error) {
	f.count("Get")
	f.mu.Lock()
	defer f.mu.Unlock()
	sb, ok := f.boxes[name]
	if !ok {
		return nil, notFound(fmt.Sprintf("sandbox named %q", name))
	}

	return &sb, nil
}

func (f *fakeManager) List(context.Context) ([]sandstorm.Sandbox, error) {
	f.count("List")
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []sandstorm.Sandbox
	for _, sb := range f.boxes {
		out = append(out, sb)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })

	return out, nil
}

func (f *fakeManager) ListSessions(_ context.Context, sandbox, _ string,
) ([]sandstorm.Session, error) {
	f.count("ListSessions")
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.boxes[sandbox]; !ok {
		return nil, notFound("sandbox")
	}
	var out []sandstorm.Session
	for _, id := range f.sessions[sandbox] {
		p := f.probes[id]
		status := "finished"
		if p.State == stateRunning {
			status = "running"
		}
		out = append([]sandstorm.Session{{ID: id, Sandbox: sandbox, Status: status,
			Running: p.State == stateRunning}}, out...)
	}

	return out, nil
}

// GetSessionLogs reads the in-memory log as the Manager reads the real one:
// from Cursor, or from the start, MaxBytes at most, ending at a line boundary
// while the session runs.
func (f *fakeManager) GetSessionLogs(_ context.Context, r sandstorm.LogsRequest,
) (*sandstorm.LogChunk, error) {
	f.count("GetSessionLogs")
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.notRun != nil {
		return nil, f.notRun
	}
	log, ok := f.logs[r.SessionID]
	if !ok {
		return nil, notFound("session")
	}
	from := int64(0)
	if r.Cursor != nil {
		from = min(*r.Cursor, int64(len(log)))
	}
	text := log[from:min(from+int64(r.MaxBytes), int64(len(log)))]
	running := f.probes[r.SessionID].State == stateRunning
	if i := lastNewline(text); running && from+int64(len(text)) < int64(len(log)) && i >= 0 {
		text = text[:i+1]
	}
	next := from + int64(len(text))

	return &sandstorm.LogChunk{SessionID: r.SessionID, Text: text, Cursor: from,
		NextCursor: next, Size: int64(len(log)), Running: running,
		More: next < int64(len(log))}, nil
}

func lastNewline(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '\n' {
			return i
		}
	}

	return -1
}

func (f *fakeManager) probesOf(ids []string) map[string]sandstorm.SessionProbe {
	out := make(map[string]sandstorm.SessionProbe)
	for _, id := range ids {
		if p, ok := f.probes[id]; ok {
			out[id] = p
		}
	}

	return out
}

func (f *fakeManager) ProbeSessions(_ context.Context, _ string, ids []string,
) (map[string]sandstorm.SessionProbe, error) {
	f.count("ProbeSessions")
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.notRun != nil {
		return nil, f.notRun
	}

	return f.probesOf(ids), nil
}

func (f *fakeManager) WatchSessions(ctx context.Context, _ string,
	last map[string]sandstorm.SessionProbe, wait time.Duration,
) (map[string]sandstorm.SessionProbe, error) {
	f.count("WatchSessions")
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		f.mu.Lock()
		if f.notRun != nil {
			f.mu.Unlock()
			return nil, f.notRun
		}
		cur := f.probesOf(keys(last))
		changed := f.changed
		f.mu.Unlock()
		if !maps.Equal(cur, last) {
			return cur, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("watch sessions: %w", ctx.Err())
		case <-timer.C:
			return cur, nil
		case <-changed:
		}
	}
}

func keys(m map[string]sandstorm.SessionProbe) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}

	return out
}

func (f *fakeManager) OnChange(fn func(sandstorm.Change)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listeners = append(f.listeners, fn)
}

// emit reports a change to the listeners, as the Manager does.
func (f *fakeManager) emit(c sandstorm.Change) {
	f.mu.Lock()
	ls := f.listeners
	f.mu.Unlock()
	for _, fn := range ls {
		fn(c)
	}
}

// setStatus changes a sandbox's reported status.
func (f *fakeManager) setStatus(name, status string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sb := f.boxes[name]
	sb.Status = status
	f.boxes[name] = sb
}

// startSession adds a running session with a log.
func (f *fakeManager) startSession(sandbox, id, log string) {
	f.mu.Lock()
	f.sessions[sandbox] = append(f.sessions[sandbox], id)
	f.logs[id] = log
	f.probes[id] = sandstorm.SessionProbe{State: stateRunning, LogSize: int64(len(log))}
	f.bump()
	f.mu.Unlock()
}

// write appends to a session's log.
func (f *fakeManager) write(id, text string) {
	f.mu.Lock()
	f.logs[id] += text
	p := f.probes[id]
	p.LogSize = int64(len(f.logs[id]))
	f.probes[id] = p
	f.bump()
	f.mu.Unlock()
}

// end ends a session with an exit code.
func (f *fakeManager) end(id string, state string) {
	f.mu.Lock()
	p := f.probes[id]
	p.State = state
	f.probes[id] = p
	f.bump()
	f.mu.Unlock()
}

// pause makes the calls that need a running sandbox fail as when it is paused.
func (f *fakeManager) pause(name string) {
	f.mu.Lock()
	f.notRun = &sandstorm.Error{Kind: sandstorm.ErrState, Message: name + " is paused"}
	f.bump()
	f.mu.Unlock()
}

// bump wakes watchers; the caller holds mu.
func (f *fakeManager) bump() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// fakeSession is a client session whose notifications land in a channel.
type fakeSession struct {
	id string
	ch chan mcp.JSONRPCNotification
}

func newFakeSession(id string) *fakeSession {
	return &fakeSession{id: id, ch: make(chan mcp.JSONRPCNotification, 100)}
}

func (f *fakeSession) Initialize()       {}
func (f *fakeSession) Initialized() bool { return true }
func (f *fakeSession) SessionID() string { return f.id }

func (f *fakeSession) NotificationChannel() chan<- mcp.JSONRPCNotification { return f.ch }

// next returns the next notification with the given method, or fails after
// within.
func (f *fakeSession) next(t *testing.T, method string, within time.Duration,
) mcp.JSONRPCNotification {
	t.Helper()
	timer := time.NewTimer(within)
	defer timer.Stop()
	for {
		select {
		case n := <-f.ch:
			if n.Method == method {
				return n
			}
		case <-timer.C:
			t.Fatalf("session %s: no %s within %s", f.id, method, within)
		}
	}
}

// none fails when a notification with the given method arrives within d.
func (f *fakeSession) none(t *testing.T, method string, d time.Duration) {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case n := <-f.ch:
			if n.Method == method {
				t.Fatalf("session %s: unexpected %s %v", f.id, method, n.Params.AdditionalFields)
			}
		case <-timer.C:
			return
		}
	}
}

// drain forgets the notifications queued so far.
func (f *fakeSession) drain() {
	for {
		select {
		case <-f.ch:
		default:
			return
		}
	}
}

// fastOptions are Poller options for tests: short intervals.
func fastOptions() Options {
	return Options{StatusInterval: 20 * time.Millisecond, WatchSpacing: 10 * time.Millisecond,
		Debounce: 10 * time.Millisecond, IdleRetry: time.Hour, MaxBackoff: 50 * time.Millisecond,
		MaxWatch: time.Second}
}

// harness is a Poller on a fake Manager, registered with a real MCP server.
type harness struct {
	t   *testing.T
	srv *server.MCPServer
	m   *fakeManager
	p   *Poller
}

func newHarness(t *testing.T, m *fakeManager, opts Options) *harness {
	t.Helper()
	hooks := &server.Hooks{}
	srv := server.NewMCPServer("test", "0", server.WithResourceCapabilities(true, true),
		server.WithHooks(hooks))
	p := Register(srv, hooks, m, opts)
	p.Start(t.Context())
	t.Cleanup(p.Stop)

	return &harness{t: t, srv: srv, m: m, p: p}
}

// legacy registers a legacy client session with the server.
func (h *harness) legacy(id string) *fakeSession {
	h.t.Helper()
	s := newFakeSession(id)
	if err := h.srv.RegisterSession(h.t.Context(), s); err != nil {
		h.t.Fatal(err)
	}

	return s
}

// request sends one JSON-RPC request as session s and returns the decoded
// response.
func (h *harness) request(ctx context.Context, s server.ClientSession, method string,
	params map[string]any,
) map[string]any {
	h.t.Helper()
	msg, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method,
		"params": params})
	if err != nil {
		h.t.Fatal(err)
	}
	resp := h.srv.HandleMessage(h.srv.WithContext(ctx, s), msg)
	raw, err := json.Marshal(resp)
	if err != nil {
		h.t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		h.t.Fatal(err)
	}

	return out
}

// subscribe subscribes a legacy session to uri.
func (h *harness) subscribe(s server.ClientSession, uri string) {
	h.t.Helper()
	if resp := h.request(h.t.Context(), s, "resources/subscribe",
		map[string]any{"uri": uri}); resp["error"] != nil {
		h.t.Fatalf("subscribe %s: %v", uri, resp["error"])
	}
}

func (h *harness) unsubscribe(s server.ClientSession, uri string) {
	h.t.Helper()
	if resp := h.request(h.t.Context(), s, "resources/unsubscribe",
		map[string]any{"uri": uri}); resp["error"] != nil {
		h.t.Fatalf("unsubscribe %s: %v", uri, resp["error"])
	}
}

// modernMeta is the _meta a 2026 client sends on every request.
var modernMeta = map[string]any{
	mcp.MetaKeyProtocolVersion:    "2026-07-28",
	mcp.MetaKeyClientInfo:         map[string]any{"name": "test", "version": "0"},
	mcp.MetaKeyClientCapabilities: map[string]any{},
}

// listen opens a subscriptions/listen stream for uris as session s; the
// returned function closes it and waits for the request to end.
func (h *harness) listen(s server.ClientSession, uris ...string) (closeStream func()) {
	h.t.Helper()
	ctx, cancel := context.WithCancel(h.t.Context())
	done := make(chan map[string]any, 1)
	go func() {
		done <- h.request(ctx, s, "subscriptions/listen", map[string]any{
			"_meta":         modernMeta,
			"notifications": map[string]any{"resourceSubscriptions": uris},
		})
	}()

	return func() {
		cancel()
		if resp := <-done; resp["error"] != nil {
			h.t.Errorf("listen: %v", resp["error"])
		}
	}
}

// eventually waits for cond, checking it every millisecond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// uriOf returns the uri parameter of a notification.
func uriOf(n mcp.JSONRPCNotification) string {
	u, _ := n.Params.AdditionalFields["uri"].(string)
	return u
}
