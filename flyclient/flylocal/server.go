package flylocal

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/longrun/sandstorm/flyclient"
	"github.com/longrun/sandstorm/flyclient/flylocal/machine"
	"github.com/longrun/sandstorm/flyclient/flylocal/metrics"
)

// Log attribute keys.
const (
	logApp      = "app"
	logMachine  = "machine_id"
	logVolume   = "volume_id"
	logSnapshot = "snapshot_id"
	logError    = "error"
)

// Defaults applied by New to zero Options fields.
const (
	defaultOrgSlug        = "personal"
	defaultRegion         = "lcl"
	defaultScrapeInterval = 15 * time.Second
	metricsRetention      = 24 * time.Hour
)

// Options configures a Server. StateDir is required; every other zero value is
// usable.
type Options struct {
	// StateDir holds everything flylocal persists: its database of apps,
	// machines, volumes, snapshots, secrets, IPs and leases, the volume data
	// directories, the snapshot archives and the machines' run directories.
	// One Server at a time may use a StateDir.
	StateDir string

	// Token, when set, is the only token accepted, sent as "Bearer T",
	// "FlyV1 T" or "Bearer FlyV1 T". When empty, any non-empty token with one
	// of those schemes is accepted.
	Token string

	// OrgSlug is the one organization flylocal serves; "personal" is always
	// accepted as an alias. Default "personal".
	OrgSlug string

	// Region is reported for machines and volumes created without one.
	// Default "lcl".
	Region string

	// Latency is slept before each /v1 request is handled.
	Latency time.Duration

	// BootDuration is how long a machine stays "starting" before its process
	// is launched.
	BootDuration time.Duration

	// SnapshotDuration is how long a snapshot takes from "waiting" to
	// "created"; the archive is taken halfway, when it turns "running".
	SnapshotDuration time.Duration

	// RateLimits turns on Fly's documented per-action rate limits (429).
	RateLimits bool

	// ScrapeInterval is the period of the metrics scrape. Default 15s.
	ScrapeInterval time.Duration

	// Logger receives flylocal's logs, as they are: name the component in
	// it if needed. Default: discard.
	Logger *slog.Logger

	// Now is the clock used for timestamps, lease expiry and metric samples.
	// Default time.Now. Durations (boot, snapshot, wait, exec) use real time.
	Now func() time.Time
}

// Server is a Fly Machines API server whose machines are local processes. It
// implements http.Handler; its methods are safe for concurrent use.
type Server struct {
	opts        Options
	log         *slog.Logger
	now         func() time.Time
	mux         *http.ServeMux
	db          *store
	metrics     *metrics.Store
	promHandler http.Handler
	supportErr  error // why machines cannot run here, or nil
	lockFile    *os.File

	latency atomic.Int64 // time.Duration
	rateOn  atomic.Bool
	pacer   atomic.Pointer[flyclient.Pacer]

	knobMu sync.Mutex
	counts map[string]int
	faults []*faultState

	mu          sync.Mutex // guards everything below
	closed      bool
	apps        map[string]*appRecord     // by name
	machines    map[string]*machineRecord // by id
	volumes     map[string]*volumeRecord  // by id
	snapshots   map[string]*snapshotRecord
	secrets     map[string]*secretsRecord // by app name
	meta        serverRecord
	runtimes    map[string]*machineRuntime // by machine id
	changed     chan struct{}              // closed and replaced on every state change
	failSnaps   int
	activeSnaps map[string]string // volume id -> snapshot id in progress

	done chan struct{}  // closed by Close
	wg   sync.WaitGroup // background goroutines
	reqs sync.WaitGroup // requests in their handlers
	// reqMu orders enter against Close: no request is admitted once Close
	// has begun.
	reqMu sync.RWMutex
}

var _ http.Handler = (*Server)(nil)

// New opens (or creates) the state in opts.StateDir and returns a Server
// serving it. Machines that were started when the state was last saved are
// started again. New works on hosts where machines cannot run; the API then
// refuses only the calls that would launch one.
func New(opts Options) (*Server, error) {
	if opts.StateDir == "" {
		return nil, errors.New("new flylocal server: Options.StateDir is required")
	}
	dir, err := filepath.Abs(opts.StateDir)
	if err != nil {
		return nil, fmt.Errorf("new flylocal server: %w", err)
	}
	opts.StateDir = dir
	applyDefaults(&opts)

	db, lock, err := openStore(dir)
	if err != nil {
		return nil, fmt.Errorf("new flylocal server: %w", err)
	}
	s := &Server{
		opts:        opts,
		log:         opts.Logger,
		now:         opts.Now,
		mux:         http.NewServeMux(),
		db:          db,
		metrics:     metrics.NewStore(metricsRetention),
		supportErr:  machine.Supported(),
		lockFile:    lock,
		counts:      make(map[string]int),
		runtimes:    make(map[string]*machineRuntime),
		changed:     make(chan struct{}),
		activeSnaps: make(map[string]string),
		done:        make(chan struct{}),
	}
	s.promHandler = s.metrics.Handler(s.now)
	s.latency.Store(int64(opts.Latency))
	s.pacer.Store(flyclient.NewPacer())
	s.rateOn.Store(opts.RateLimits)
	if err := s.load(); err != nil {
		_ = lock.Close()

		return nil, fmt.Errorf("new flylocal server: %w", err)
	}
	if s.supportErr != nil {
		s.log.Warn("local machines unavailable; machine launches will be refused",
			logError, s.supportErr)
	}
	s.routes()

	s.mu.Lock()
	s.resumeLocked()
	s.goLocked(s.scrapeLoop)
	s.goLocked(s.reapLoop)
	s.mu.Unlock()

	return s, nil
}

// routes registers every implemented call. The patterns double as the keys of
// RequestCounts and Fault.Route.
func (s *Server) routes() {
	const (
		app     = "/v1/apps/{app_name}"
		machine = app + "/machines/{machine_id}"
		volume  = app + "/volumes/{volume_id}"
	)
	s.handle("POST /v1/apps", s.createApp)
	s.handle("GET /v1/apps", s.listApps)
	s.handle("GET "+app, s.getApp)
	s.handle("DELETE "+app, s.deleteApp)

	s.handle("GET "+app+"/machines", s.listMachines)
	s.handle("POST "+app+"/machines", s.createMachine)
	s.handle("GET "+machine, s.getMachine)
	s.handle("POST "+machine, s.updateMachine)
	s.handle("DELETE "+machine, s.deleteMachine)
	s.handle("POST "+machine+"/start", s.startMachine)
	s.handle("POST "+machine+"/stop", s.stopMachine)
	s.handle("POST "+machine+"/restart", s.restartMachine)
	s.handle("POST "+machine+"/suspend", s.suspendMachine)
	s.handle("POST "+machine+"/signal", s.signalMachine)
	s.handle("GET "+machine+"/wait", s.waitMachine)
	s.handle("GET "+machine+"/events", s.machineEvents)
	s.handle("POST "+machine+"/exec", s.execMachine)
	s.handle("GET "+machine+"/metadata", s.getMetadata)
	s.handle("PUT "+machine+"/metadata", s.replaceMetadata)
	s.handle("PATCH "+machine+"/metadata", s.mergeMetadata)
	s.handle("GET "+machine+"/metadata/{key}", s.getMetadataKey)
	s.handle("POST "+machine+"/metadata/{key}", s.setMetadataKey)
	s.handle("DELETE "+machine+"/metadata/{key}", s.deleteMetadataKey)
	s.handle("GET "+machine+"/lease", s.getLease)
	s.handle("POST "+machine+"/lease", s.acquireLease)
	s.handle("DELETE "+machine+"/lease", s.releaseLease)

	s.handle("GET "+app+"/volumes", s.listVolumes)
	s.handle("POST "+app+"/volumes", s.createVolume)
	s.handle("GET "+volume, s.getVolume)
	s.handle("PUT "+volume, s.updateVolume)
	s.handle("DELETE "+volume, s.deleteVolume)
	s.handle("PUT "+volume+"/extend", s.extendVolume)
	s.handle("GET "+volume+"/snapshots", s.listSnapshots)
	s.handle("POST "+volume+"/snapshots", s.createSnapshot)

	s.handle("GET "+app+"/ip_assignments", s.listIPs)
	s.handle("POST "+app+"/ip_assignments", s.assignIP)
	s.handle("DELETE "+app+"/ip_assignments/{ip}", s.releaseIP)

	s.handle("GET "+app+"/secrets", s.listSecrets)
	s.handle("POST "+app+"/secrets", s.setSecrets)
	s.handle("GET "+app+"/secrets/{secret_name}", s.getSecret)
	s.handle("POST "+app+"/secrets/{secret_name}", s.setSecret)
	s.handle("DELETE "+app+"/secrets/{secret_name}", s.deleteSecret)

	s.handle("/prometheus/", s.servePrometheus)
	s.handle("/", s.notImplemented)
}

// applyDefaults fills the zero fields of opts that have defaults.
func applyDefaults(opts *Options) {
	if opts.OrgSlug == "" {
		opts.OrgSlug = defaultOrgSlug
	}
	if opts.Region == "" {
		opts.Region = defaultRegion
	}
	if opts.ScrapeInterval <= 0 {
		opts.ScrapeInterval = defaultScrapeInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
}

// Close stops every machine process and background job and releases the state
// directory. Machine states are kept as they were, so machines that were
// started are started again by the next New on the same directory. Requests
// served after Close answer 503.
func (s *Server) Close() error {
	s.reqMu.Lock()
	defer s.reqMu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()

		return nil
	}
	s.closed = true
	close(s.done)
	var stops []func()
	for id, rt := range s.runtimes {
		if rt.proc == nil || s.machines[id] == nil {
			continue
		}
		sig, grace := s.stopSettings(s.machines[id], 0, 0)
		proc := rt.proc
		stops = append(stops, func() {
			_ = proc.Stop(sig, min(grace, closeGrace))
			<-proc.Done()
		})
	}
	s.notifyLocked()
	s.mu.Unlock()

	var wg sync.WaitGroup
	for _, stop := range stops {
		wg.Go(stop)
	}
	wg.Wait()
	s.wg.Wait()
	s.reqs.Wait()

	return s.lockFile.Close()
}

// enter admits a request to its handler unless the server is closed; the
// caller calls s.reqs.Done when the handler returns. Close waits for admitted
// requests, so none touches the state directory after Close.
func (s *Server) enter() bool {
	s.reqMu.RLock()
	defer s.reqMu.RUnlock()
	select {
	case <-s.done:
		return false
	default:
		s.reqs.Add(1)

		return true
	}
}

// closeGrace caps how long Close waits for a machine to stop on its signal.
const closeGrace = 2 * time.Second

// goLocked runs fn in a goroutine that Close waits for, unless the server is
// closed. The caller holds s.mu.
func (s *Server) goLocked(fn func()) bool {
	if s.closed {
		return false
	}
	s.wg.Go(fn)

	return true
}

// notifyLocked wakes everyone waiting for a state change. The caller holds s.mu.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// sleep waits d, or until ctx ends or the server closes; it reports whether d
// passed.
func (s *Server) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.done:
		return false
	}
}

// handlerFunc is a route handler. It writes its success answer itself and
// returns failures, which serveRoute writes.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle registers h for pattern behind the per-request pipeline.
func (s *Server) handle(pattern string, h handlerFunc) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		s.serveRoute(pattern, h, w, r)
	})
}

// ServeHTTP serves the Machines API under /v1 and the Prometheus API under
// /prometheus/. Every answer carries a fly-request-id header.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("fly-request-id", newRequestID(s.now()))
	if p := r.URL.Path; len(p) > 1 && strings.HasSuffix(p, "/") &&
		!strings.HasPrefix(p, "/prometheus/") {
		r2 := *r
		u := *r.URL
		u.Path = strings.TrimRight(p, "/")
		u.RawPath = strings.TrimRight(u.RawPath, "/")
		r2.URL = &u
		r = &r2
	}
	s.mux.ServeHTTP(w, r)
}

// serveRoute runs one request through the pipeline: count, latency, faults,
// auth, rate limits, then the handler.
func (s *Server) serveRoute(pattern string, h handlerFunc, w http.ResponseWriter, r *http.Request) {
	s.count(pattern)
	if strings.HasPrefix(r.URL.Path, "/v1/") || r.URL.Path == "/v1" {
		if !s.sleep(r.Context(), time.Duration(s.latency.Load())) {
			return
		}
	}
	if s.applyFault(pattern, w, r) {
		return
	}
	if !authorized(r.Header.Get("Authorization"), s.opts.Token) {
		writeError(w, newError(http.StatusUnauthorized, "Authenticate: token validation error"))

		return
	}
	if s.rateLimited(w, r) {
		return
	}
	if !s.enter() {
		writeError(w, newError(http.StatusServiceUnavailable, "flylocal is shut down"))

		return
	}
	defer s.reqs.Done()

	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	if err := h(w, r); err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			s.log.Error("request failed", "route", pattern, logError, err)
		}
		writeError(w, err)
	}
}

// notImplemented answers every route flylocal does not serve.
func (s *Server) notImplemented(w http.ResponseWriter, r *http.Request) error {
	return newError(http.StatusNotImplemented, "flylocal does not implement %s %s",
		r.Method, r.URL.Path)
}

// tokenOf returns the token of an Authorization header using the Bearer or
// FlyV1 scheme (or both, as in "Bearer FlyV1 fm2_..."), and whether there was
// one.
func tokenOf(header string) (string, bool) {
	rest, schemed := strings.TrimSpace(header), false
	for range 2 {
		scheme, after, found := strings.Cut(rest, " ")
		if !found || !(strings.EqualFold(scheme, "Bearer") || strings.EqualFold(scheme, "FlyV1")) {
			break
		}
		rest, schemed = strings.TrimSpace(after), true
	}

	return rest, schemed && rest != ""
}

// authorized reports whether header carries an acceptable token.
func authorized(header, want string) bool {
	got, ok := tokenOf(header)
	if !ok {
		return false
	}

	return want == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// tokenOwner names the holder of the request's token, as Fly reports lease
// owners for tokens: "<id>@tokens.fly.io".
func tokenOwner(r *http.Request) string {
	tok, _ := tokenOf(r.Header.Get("Authorization"))
	sum := sha256.Sum256([]byte(tok))

	return hex.EncodeToString(sum[:6]) + "@tokens.fly.io"
}

// rateLimited answers 429 and reports true when rate limits are on and the
// request exceeds Fly's budget for its action and resource.
func (s *Server) rateLimited(w http.ResponseWriter, r *http.Request) bool {
	if !s.rateOn.Load() {
		return false
	}
	allowed, delay := s.pacer.Load().Allow(r.Method, r.URL.Path)
	if allowed {
		return false
	}
	secs := max(1, int(math.Ceil(delay.Seconds())))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writeJSON(w, http.StatusTooManyRequests, errorBody{Error: "rate limit exceeded"})

	return true
}

// SetLatency changes the delay slept before each /v1 request.
func (s *Server) SetLatency(d time.Duration) { s.latency.Store(int64(d)) }

// SetRateLimits turns Fly's rate limits on or off. Turning them on starts with
// full buckets.
func (s *Server) SetRateLimits(on bool) {
	if on && !s.rateOn.Load() {
		s.pacer.Store(flyclient.NewPacer())
	}
	s.rateOn.Store(on)
}

// FailSnapshots makes the next n snapshots end in status "failed", without an
// archive.
func (s *Server) FailSnapshots(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failSnaps = max(n, 0)
}

// Metrics returns the store behind /prometheus/, for tests that add or read
// samples directly.
func (s *Server) Metrics() *metrics.Store { return s.metrics }

// count records one request to pattern.
func (s *Server) count(pattern string) {
	s.knobMu.Lock()
	defer s.knobMu.Unlock()
	s.counts[pattern]++
}

// RequestCounts returns how many requests each route received since New or the
// last ResetCounts, keyed by route pattern such as
// "POST /v1/apps/{app_name}/machines". Unimplemented calls count under "/".
func (s *Server) RequestCounts() map[string]int {
	s.knobMu.Lock()
	defer s.knobMu.Unlock()
	out := make(map[string]int, len(s.counts))
	for k, v := range s.counts {
		out[k] = v
	}

	return out
}

// ResetCounts sets every request count back to zero.
func (s *Server) ResetCounts() {
	s.knobMu.Lock()
	defer s.knobMu.Unlock()
	clear(s.counts)
}
