package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/server"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/longrun/sandstorm"
	"github.com/longrun/sandstorm/flyclient"
	"github.com/longrun/sandstorm/flyclient/flylocal"
	"github.com/longrun/sandstorm/flyclient/flylocal/machine"
	"github.com/longrun/sandstorm/internal/stubagent"
	"github.com/longrun/sandstorm/resources"
	"github.com/longrun/sandstorm/store"
)

// appRequests counts the Fly API requests made for each app.
type appRequests struct {
	next http.Handler
	mu   sync.Mutex
	n    map[string]int
}

func (a *appRequests) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if rest, ok := strings.CutPrefix(r.URL.Path, "/v1/apps/"); ok {
		app, _, _ := strings.Cut(rest, "/")
		a.mu.Lock()
		a.n[app]++
		a.mu.Unlock()
	}
	a.next.ServeHTTP(w, r)
}

func (a *appRequests) count(app string) int {
	a.mu.Lock()
	defer a.mu.Unlock()

	return a.n[app]
}

// inProcess is the server built by newMCPServer on a Manager over an
// in-process flylocal, served over stdio pipes to a go-sdk client.
type inProcess struct {
	*watcher
	poller   *resources.Poller
	requests *appRequests
	fly      *flylocal.Server
	// flyURL reaches the same flylocal, for changes made behind the server.
	flyURL string
}

// inProcessMu is held by each in-process server from its start to its test's
// end.
var inProcessMu sync.Mutex

func startInProcess(t *testing.T, version string) *inProcess {
	t.Helper()

	return startInProcessWith(t, version, flylocal.Options{}, sandstorm.Config{})
}

// startInProcessWith is startInProcess with flylocal options and a Manager
// config; StateDir, Prefix and Logger are filled in.
func startInProcessWith(t *testing.T, version string, opts flylocal.Options,
	cfg sandstorm.Config,
) *inProcess {
	t.Helper()
	if err := machine.Supported(); err != nil {
		t.Skipf("machines cannot run here: %v", err)
	}
	if err := registerStub(); err != nil {
		t.Fatal(err)
	}
	// mcp-go keeps one stdio session for the whole process: two stdio servers
	// at once would share its notification channel, log level and writer, and
	// deliver each other's notifications. In-process servers take turns.
	inProcessMu.Lock()
	t.Cleanup(inProcessMu.Unlock)
	dir := t.TempDir()
	opts.StateDir = filepath.Join(dir, "fly")
	fl, err := flylocal.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	requests := &appRequests{next: fl, n: make(map[string]int)}
	ts := httptest.NewServer(requests)
	st, err := store.OpenSQLite(t.Context(), filepath.Join(dir, "sandstorm.db"))
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(&testWriter{t: t},
		&slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg.Prefix, cfg.Logger = "t-", logger
	// Without the client's pacing, which holds every exec to Fly's budget of
	// one a second per machine, the test runs in a third of the time; the
	// watch's own use of that budget is checked by counting.
	m, err := sandstorm.New(flyclient.New("test", flyclient.WithBaseURL(ts.URL),
		flyclient.WithPrometheusURL(ts.URL+"/prometheus"), flyclient.WithoutPacing()), st,
		cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv, poller := newMCPServer(m, logger)

	ctx, cancel := context.WithCancel(context.Background())
	c2sR, c2sW := io.Pipe()
	s2cR, s2cW := io.Pipe()
	stdio := server.NewStdioServer(srv)
	stdio.SetErrorLogger(slogLogger(logger))
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = stdio.Listen(ctx, c2sR, s2cW)
	}()
	t.Cleanup(func() {
		cancel()
		_ = c2sW.Close()
		<-served
		poller.Stop()
		ts.Close()
		_ = fl.Close()
		_ = st.Close()
	})

	w := newWatcher()
	cl := sdk.NewClient(&sdk.Implementation{Name: "logs-test", Version: "0"}, w.options())
	cs, err := cl.Connect(t.Context(), &sdk.IOTransport{Reader: s2cR, Writer: c2sW},
		&sdk.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	w.client = &client{t: t, cs: cs}

	return &inProcess{watcher: w, poller: poller, requests: requests, fly: fl, flyURL: ts.URL}
}

// eventually waits for cond, checking it every few milliseconds.
func eventually(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type logMeta struct {
	start, end, size int64
	running          bool
}

// readLog reads a log resource and checks that its byte range matches its
// text.
func (p *inProcess) readLog(uri string) (string, logMeta) {
	p.t.Helper()
	c := p.read(uri)
	num := func(k string) int64 {
		v, ok := c.Meta[k].(float64)
		if !ok {
			p.t.Fatalf("log _meta[%q] = %v, want a number; _meta = %v", k, c.Meta[k], c.Meta)
		}
		return int64(v)
	}
	m := logMeta{start: num("byte_start"), end: num("byte_end"), size: num("size")}
	m.running, _ = c.Meta["running"].(bool)
	if c.MIMEType != "text/plain" || m.end-m.start != int64(len(c.Text)) || m.end > m.size {
		p.t.Fatalf("log %s: %s, %d bytes of text for range %+v", uri, c.MIMEType,
			len(c.Text), m)
	}

	return c.Text, m
}

// TestResources_SessionLogs follows a session's log resource: an update
// within two seconds of each line written, a tail that starts at a line
// boundary, updates when the session ends, and no Fly request for the
// sandbox once its subscribers have gone.
func TestResources_SessionLogs(t *testing.T) {
	for _, era := range []struct {
		name, version string
		lines         int
	}{{"legacy", legacyProtocol, 6}, {"modern", modernProtocol, 3}} {
		t.Run(era.name, func(t *testing.T) {
			p := startInProcess(t, era.version)
			p.ok("sandbox_create", map[string]any{"name": "logs", "agent": stubagent.ID,
				"memory_mb": 256, "cpus": 1}, nil)
			var sess struct {
				ID      string `json:"session_id"`
				LogPath string `json:"log_path"`
			}
			// One line, then quiet until stopped.
			p.ok("session_start", map[string]any{"sandbox": "logs", "identifier": "quiet",
				"prompt": "wait", "env": map[string]any{"STUB_LINES": "1",
					"STUB_DELAY": "600"}}, &sess)
			logURI := resources.LogURI("logs", sess.ID)
			sessionsURI := resources.SessionsURI("logs")
			for _, uri := range []string{logURI, sessionsURI} {
				if err := p.cs.Subscribe(t.Context(), &sdk.SubscribeParams{URI: uri}); err != nil {
					t.Fatal(err)
				}
			}
			eventually(t, "following the log and sessions", 5*time.Second, func() bool {
				return p.poller.Following(logURI) && p.poller.Following(sessionsURI)
			})
			text, meta := p.readLog(logURI)
			if !strings.HasPrefix(text, `{"type":"system"`) || meta.start != 0 || !meta.running {
				t.Fatalf("log before writing = %+v %q", meta, text)
			}

			p.followLines(sess.LogPath, logURI, era.lines)
			p.checkTail(sess.LogPath, logURI, sess.ID)

			// The session ends: its log and the session list change.
			p.drain()
			p.ok("session_stop", map[string]any{"sandbox": "logs", "session_id": sess.ID}, nil)
			// The watch sees the session lost for a moment while it stops; it
			// must not make the Manager record it so.
			var st struct{ Status string }
			p.ok("session_status", map[string]any{"sandbox": "logs", "session_id": sess.ID}, &st)
			if st.Status != "stopped" {
				t.Errorf("stopped session's status = %q, want stopped", st.Status)
			}
			if missing := p.waitAll(time.Now().Add(2*time.Second), logURI, sessionsURI); len(missing) > 0 {
				t.Errorf("no update of %v within 2s of session_stop", missing)
			}
			if _, meta := p.readLog(logURI); meta.running {
				t.Error("log of the stopped session says running")
			}

			p.checkUnsubscribeStops(logURI, sessionsURI)
		})
	}
}

// followLines has the sandbox write n lines into the log, each with the time
// it was written, and checks that an update reaches the client within two
// seconds of each, and that the resource then ends with them. The lines are
// paced so that the watch, not Fly's exec budget, sets the latency.
func (p *inProcess) followLines(logPath, logURI string, n int) {
	t := p.t
	const pace = 1100 * time.Millisecond
	p.drain()
	p.ok("sandbox_exec", map[string]any{"sandbox": "logs", "timeout_seconds": 10,
		"command": fmt.Sprintf("(i=0; while [ $i -lt %d ]; do sleep %.1f; "+
			"printf 'marker-%%d %%s\\n' $i \"$(date +%%s%%N)\" >> %s; i=$((i + 1)); done) "+
			">/dev/null 2>&1 &", n, pace.Seconds(), logPath)}, nil)
	var updates []time.Time
	deadline := time.Now().Add(time.Duration(n)*pace + 3*time.Second)
	for {
		at, ok := p.waitUpdated(logURI, deadline)
		if !ok {
			break
		}
		updates = append(updates, at)
	}

	text, meta := p.readLog(logURI)
	if meta.end != meta.size || !meta.running {
		t.Errorf("log after the lines: %+v", meta)
	}
	var latencies []time.Duration
	for _, m := range marker.FindAllStringSubmatch(text, -1) {
		ns, err := strconv.ParseInt(m[2], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		written := time.Unix(0, ns)
		i := slices.IndexFunc(updates, func(at time.Time) bool { return !at.Before(written) })
		if i < 0 {
			t.Fatalf("marker-%s written at %s: no update after it", m[1], written.Format(time.StampMilli))
		}
		latencies = append(latencies, updates[i].Sub(written))
	}
	if len(latencies) != n || !strings.HasSuffix(text, "\n") {
		t.Fatalf("log holds %d of %d marker lines:\n%s", len(latencies), n, text)
	}
	for i, d := range latencies {
		if d > 2*time.Second {
			t.Errorf("marker-%d: update %s after it was written, want within 2s", i, d)
		}
	}
	slices.Sort(latencies)
	t.Logf("line written -> notifications/resources/updated received: median %s, max %s "+
		"(%d lines)", latencies[len(latencies)/2], latencies[len(latencies)-1], n)
}

var marker = regexp.MustCompile(`(?m)^marker-(\d+) (\d+)$`)

var bulkLine = regexp.MustCompile(`^bulk-\d{5} x{40}$`)

// checkTail makes the log longer than the resource holds and checks that the
// resource holds its end, from a line boundary, with the right byte range.
func (p *inProcess) checkTail(logPath, logURI, sessionID string) {
	t := p.t
	p.drain()
	start := time.Now()
	p.ok("sandbox_exec", map[string]any{"sandbox": "logs", "timeout_seconds": 10,
		"command": "i=0; " +
			"while [ $i -lt 2000 ]; do printf 'bulk-%05d %s\\n' $i " + strings.Repeat("x", 40) +
			"; i=$((i + 1)); done >> " + logPath}, nil)
	if _, ok := p.waitUpdated(logURI, start.Add(2*time.Second)); !ok {
		t.Fatal("no update after writing 100 KiB")
	}
	text, meta := p.readLog(logURI)
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if meta.start == 0 || len(text) > resources.TailBytes || len(text) < resources.TailBytes-60 ||
		!bulkLine.MatchString(lines[0]) || lines[len(lines)-1] != "bulk-01999 "+
		strings.Repeat("x", 40) || meta.end != meta.size {
		t.Fatalf("tail of a long log: %+v, %d bytes, first line %q, last %q", meta, len(text),
			lines[0], lines[len(lines)-1])
	}
	// The byte range is the log's: session_logs reads the same text there.
	var chunk struct {
		Text string `json:"text"`
	}
	p.ok("session_logs", map[string]any{"sandbox": "logs", "session_id": sessionID,
		"cursor": meta.start, "max_bytes": 200}, &chunk)
	if !strings.HasPrefix(text, chunk.Text) || chunk.Text == "" {
		t.Errorf("session_logs at byte_start %d = %q, want the start of the resource %q",
			meta.start, chunk.Text, text[:min(len(text), 100)])
	}
}

// checkUnsubscribeStops follows a busy session's log, checks that the watch
// keeps within Fly's exec budget while the log grows without pause, then
// drops every subscription and checks that the sandbox gets no more Fly
// requests while the log keeps growing.
func (p *inProcess) checkUnsubscribeStops(uris ...string) {
	t := p.t
	var busy struct {
		ID string `json:"session_id"`
	}
	p.ok("session_start", map[string]any{"sandbox": "logs", "identifier": "busy",
		"prompt": "talk", "env": map[string]any{"STUB_LINES": "1200", "STUB_DELAY": "0.05"}},
		&busy)
	busyURI := resources.LogURI("logs", busy.ID)
	if err := p.cs.Subscribe(t.Context(), &sdk.SubscribeParams{URI: busyURI}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "following the busy log", 5*time.Second, func() bool {
		return p.poller.Following(busyURI)
	})
	p.drain()
	before, start := p.requests.count("t-logs"), time.Now()
	updates := 0
	for window := start.Add(3 * time.Second); ; updates++ {
		if _, ok := p.waitUpdated(busyURI, window); !ok {
			break
		}
	}
	// One watch per second, Fly's exec rate per machine, and the one in flight.
	if n := p.requests.count("t-logs") - before; updates < 2 || n > 4 {
		t.Errorf("busy log over %s: %d updates, %d Fly requests; want 2 or more updates "+
			"and at most 4 requests", time.Since(start).Round(time.Millisecond), updates, n)
	}

	for _, uri := range append(uris, busyURI) {
		if err := p.cs.Unsubscribe(t.Context(), &sdk.UnsubscribeParams{URI: uri}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "polling stops", 5*time.Second, func() bool {
		return !slices.Contains(p.poller.Polling(), "logs")
	})
	p.drain()
	before = p.requests.count("t-logs")
	// The busy session writes a line every 50 ms throughout.
	observe := time.NewTimer(2500 * time.Millisecond)
	defer observe.Stop()
	select {
	case uri := <-p.updated:
		t.Errorf("update of %s after unsubscribing", uri)
	case <-observe.C:
	}
	if after := p.requests.count("t-logs"); after != before {
		t.Errorf("%d Fly requests for the sandbox after its subscribers left, want 0",
			after-before)
	}
	var st struct {
		Running bool `json:"running"`
	}
	p.ok("session_status", map[string]any{"sandbox": "logs", "session_id": busy.ID}, &st)
	if !st.Running {
		t.Error("the busy session ended before the observation did; it proves nothing")
	}
}
