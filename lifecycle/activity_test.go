package lifecycle_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/longrun/sandstorm/flyclient"
	"github.com/longrun/sandstorm/flyclient/flylocal"
	"github.com/longrun/sandstorm/lifecycle"
	"github.com/prometheus/common/model"
)

var _ lifecycle.Metrics = (*flyclient.Client)(nil)

const (
	testOrg    = "personal"
	testPrefix = "sb-"
	// promRoute is the flylocal route every Prometheus query counts under.
	promRoute = "/prometheus/"
	window    = 30 * time.Minute
)

// promEnv is a flylocal server with its Prometheus API and a client of it.
type promEnv struct {
	srv     *flylocal.Server
	client  *flyclient.Client
	metrics *recordingMetrics
	now     time.Time
}

// newPromEnv starts flylocal behind an httptest server. Samples are placed
// relative to env.now, which is also the detector's clock.
func newPromEnv(tb testing.TB, opts ...flyclient.Option) *promEnv {
	tb.Helper()
	srv, err := flylocal.New(flylocal.Options{StateDir: tb.TempDir()})
	if err != nil {
		tb.Fatalf("flylocal.New: %v", err)
	}
	tb.Cleanup(func() { _ = srv.Close() })
	ts := httptest.NewServer(srv)
	tb.Cleanup(ts.Close)

	opts = append([]flyclient.Option{
		flyclient.WithBaseURL(ts.URL),
		flyclient.WithPrometheusURL(ts.URL + "/prometheus"),
	}, opts...)
	client := flyclient.New("t", opts...)

	return &promEnv{
		srv:     srv,
		client:  client,
		metrics: &recordingMetrics{next: client},
		now:     time.Now().UTC().Truncate(time.Minute),
	}
}

// traffic adds a sample a minute of both eth0 counters of one machine over
// the 40 minutes before env.now, growing by perMinute bytes in all (half
// received, half sent), so that any window up to 30m sees perMinute a minute.
func (e *promEnv) traffic(app, instance, device string, perMinute float64) {
	labels := map[string]string{"app": app, "instance": instance, "device": device,
		"region": "lcl"}
	var total float64
	for at := e.now.Add(-40 * time.Minute); !at.After(e.now); at = at.Add(time.Minute) {
		e.srv.Metrics().Add("fly_instance_net_recv_bytes", labels, at, total/2)
		e.srv.Metrics().Add("fly_instance_net_sent_bytes", labels, at, total/2)
		total += perMinute
	}
}

// promQueries returns how many Prometheus requests flylocal has served.
func (e *promEnv) promQueries() int { return e.srv.RequestCounts()[promRoute] }

// detector returns a Detector over env's Prometheus with sig and env's clock.
func (e *promEnv) detector(sig lifecycle.Signals) *lifecycle.Detector {
	return &lifecycle.Detector{
		Metrics: e.metrics,
		Signals: sig,
		Org:     testOrg,
		Prefix:  testPrefix,
		Now:     func() time.Time { return e.now },
	}
}

// recordingMetrics passes queries on and remembers them and the apps answered.
type recordingMetrics struct {
	next lifecycle.Metrics

	mu      sync.Mutex
	queries []string
	answers map[string]model.Value
	apps    map[string]bool
}

func (r *recordingMetrics) Query(ctx context.Context, org, q string, at time.Time,
) (model.Value, error) {
	v, err := r.next.Query(ctx, org, q, at)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.queries = append(r.queries, q)
	if r.apps == nil {
		r.apps, r.answers = map[string]bool{}, map[string]model.Value{}
	}
	r.answers[q] = v
	if vec, ok := v.(model.Vector); ok {
		for _, s := range vec {
			r.apps[string(s.Metric["app"])] = true
		}
	}

	return v, err
}

// fakeSignals answers Signals from maps; an entry in errs fails the tool call
// and session reads for that sandbox, one in holdErrs its hold read.
type fakeSignals struct {
	tools    map[string]time.Time
	sessions map[string]session
	holds    map[string]*lifecycle.Hold
	errs     map[string]error
	holdErrs map[string]error
}

type session struct {
	last    time.Time
	running bool
}

func (f *fakeSignals) LastToolCall(_ context.Context, sb string) (time.Time, error) {
	return f.tools[sb], f.errs[sb]
}

func (f *fakeSignals) LastSessionOutput(_ context.Context, sb string) (time.Time, bool, error) {
	s := f.sessions[sb]

	return s.last, s.running, f.errs[sb]
}

func (f *fakeSignals) Hold(_ context.Context, sb string) (*lifecycle.Hold, error) {
	return f.holds[sb], f.holdErrs[sb]
}

// running returns a running sandbox of the test prefix on machine id.
func running(name, id string) lifecycle.Sandbox {
	return lifecycle.Sandbox{Name: name, App: testPrefix + name, MachineID: id,
		VolumeID: "vol_" + id, Status: "running", Running: true}
}

// byName indexes verdicts by sandbox name.
func byName(t *testing.T, vs []lifecycle.Verdict) map[string]lifecycle.Verdict {
	t.Helper()
	out := make(map[string]lifecycle.Verdict, len(vs))
	for _, v := range vs {
		out[v.Sandbox] = v
	}

	return out
}

// wantVerdict checks a verdict's kind and that one of its reasons holds each
// of the phrases.
func wantVerdict(t *testing.T, v lifecycle.Verdict, kind lifecycle.Kind, phrases ...string) {
	t.Helper()
	if v.Kind != kind {
		t.Errorf("%s: verdict %s, want %s; reasons %q", v.Sandbox, v.Kind, kind, v.Reasons)
	}
	for _, p := range phrases {
		if !slices.ContainsFunc(v.Reasons, func(r string) bool { return strings.Contains(r, p) }) {
			t.Errorf("%s: no reason mentions %q: %q", v.Sandbox, p, v.Reasons)
		}
	}
}

func TestDetector_FindIdle(t *testing.T) {
	t.Parallel()
	env := newPromEnv(t)
	env.traffic("sb-quiet", "m1", "eth0", 100)   // 3000 B over 30m
	env.traffic("sb-quiet", "m1", "dummy0", 1e6) // another device: ignored
	env.traffic("sb-busy", "m2", "eth0", 1000)   // 30000 B over 30m
	env.traffic("sb-busy", "m0", "eth0", 0)      // a replaced machine of the same app
	env.traffic("sb-thinking", "m4", "eth0", 10)
	env.traffic("other-app", "m9", "eth0", 1e6) // outside the prefix
	sig := &fakeSignals{
		tools:    map[string]time.Time{"quiet": env.now.Add(-2 * time.Hour)},
		sessions: map[string]session{"thinking": {env.now.Add(-25 * time.Minute), true}},
	}
	sandboxes := []lifecycle.Sandbox{
		running("quiet", "m1"),
		running("busy", "m2"),
		running("nodata", "m3"),
		running("thinking", "m4"),
		{Name: "paused", App: "sb-paused", Status: "paused"},
	}

	got, err := env.detector(sig).FindIdle(t.Context(), sandboxes, window, 0)
	if err != nil {
		t.Fatalf("FindIdle: %v", err)
	}

	if n := env.promQueries(); n != 2 {
		t.Errorf("FindIdle made %d Prometheus requests, want 2", n)
	}
	for _, q := range env.metrics.queries {
		if !strings.Contains(q, `app=~"sb-.*"`) || !strings.Contains(q, `device="eth0"`) ||
			!strings.Contains(q, "[30m]") {
			t.Errorf("query %s: want the prefix regexp, eth0 and a 30m window", q)
		}
	}
	if env.metrics.apps["other-app"] {
		t.Errorf("the queries answered for other-app, outside the prefix")
	}
	if len(got) != len(sandboxes) {
		t.Fatalf("got %d verdicts, want %d", len(got), len(sandboxes))
	}
	for i, v := range got {
		if v.Sandbox != sandboxes[i].Name {
			t.Errorf("verdict %d is for %s, want %s (input order)", i, v.Sandbox, sandboxes[i].Name)
		}
	}

	v := byName(t, got)
	wantVerdict(t, v["quiet"], lifecycle.Idle, "under the 10.0 KiB threshold",
		"last tool call 2h ago", "no agent session", "no keep-alive hold")
	if q := v["quiet"]; q.Bytes != 3000 || !q.BytesKnown || q.IdleMinutes != 120 ||
		!q.LastActivity.Equal(env.now.Add(-2*time.Hour)) || q.VolumeID != "vol_m1" {
		t.Errorf("quiet: %+v, want 3000 bytes known, 120 idle minutes, last activity 2h ago", q)
	}
	wantVerdict(t, v["busy"], lifecycle.Active, "at or above the 10.0 KiB threshold")
	if v["busy"].Bytes != 30000 {
		t.Errorf("busy: %d bytes, want 30000 (machine m2 only)", v["busy"].Bytes)
	}
	wantVerdict(t, v["nodata"], lifecycle.Unknown,
		"no network metrics for machine m3 over 30m: Prometheus has no series for it")
	if v["nodata"].BytesKnown {
		t.Errorf("nodata: bytes known without series")
	}
	wantVerdict(t, v["thinking"], lifecycle.Active, "agent session running, last output 25m ago")
	wantVerdict(t, v["paused"], lifecycle.NotRunning, "not running (status paused)")
	for _, x := range got {
		if x.Kind == lifecycle.Idle && x.Sandbox != "quiet" {
			t.Errorf("%s judged idle", x.Sandbox)
		}
	}
}

func TestDetector_Signals(t *testing.T) {
	t.Parallel()
	env := newPromEnv(t)
	const quiet = "m-quiet"
	env.traffic("sb-x", quiet, "eth0", 50)
	now := env.now
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	errStore := errors.New("store unavailable")

	tests := []struct {
		name    string
		window  time.Duration
		sig     fakeSignals
		want    lifecycle.Kind
		phrases []string
	}{
		{
			name: "nothing at all",
			want: lifecycle.Idle,
			phrases: []string{"network traffic 1.5 KiB over 30m", "no tool call",
				"no agent session has written output", "no keep-alive hold"},
		},
		{
			name:    "recent tool call",
			sig:     fakeSignals{tools: map[string]time.Time{"x": ago(4 * time.Minute)}},
			want:    lifecycle.Active,
			phrases: []string{"last tool call 4m ago, within 30m"},
		},
		{
			name:    "old tool call",
			sig:     fakeSignals{tools: map[string]time.Time{"x": ago(31 * time.Minute)}},
			want:    lifecycle.Idle,
			phrases: []string{"last tool call 31m ago, before the 30m window"},
		},
		{
			name:    "running session quiet longer than a short window",
			window:  10 * time.Minute,
			sig:     fakeSignals{sessions: map[string]session{"x": {ago(20 * time.Minute), true}}},
			want:    lifecycle.Active,
			phrases: []string{"within the 30m grace for running sessions"},
		},
		{
			name:    "finished session quiet longer than the window",
			window:  10 * time.Minute,
			sig:     fakeSignals{sessions: map[string]session{"x": {ago(20 * time.Minute), false}}},
			want:    lifecycle.Idle,
			phrases: []string{"last agent session output 20m ago, before the 10m window"},
		},
		{
			name:    "running session silent beyond the grace",
			window:  10 * time.Minute,
			sig:     fakeSignals{sessions: map[string]session{"x": {ago(45 * time.Minute), true}}},
			want:    lifecycle.Idle,
			phrases: []string{"silent for 45m, beyond the 30m grace"},
		},
		{
			name:    "running session, window longer than the grace",
			window:  time.Hour,
			sig:     fakeSignals{sessions: map[string]session{"x": {ago(50 * time.Minute), true}}},
			want:    lifecycle.Active,
			phrases: []string{"within the 1h grace"},
		},
		{
			name: "active hold",
			sig: fakeSignals{holds: map[string]*lifecycle.Hold{"x": {
				Until: now.Add(time.Hour), Reason: "long build", Actor: "alice"}}},
			want:    lifecycle.Active,
			phrases: []string{"keep-alive hold until", "placed by alice: long build"},
		},
		{
			name:    "hold without end",
			sig:     fakeSignals{holds: map[string]*lifecycle.Hold{"x": {Actor: "bob"}}},
			want:    lifecycle.Active,
			phrases: []string{"keep-alive hold with no end, placed by bob"},
		},
		{
			name: "expired hold",
			sig: fakeSignals{holds: map[string]*lifecycle.Hold{"x": {
				Until: ago(5 * time.Minute)}}},
			want:    lifecycle.Idle,
			phrases: []string{"keep-alive hold ended 5m ago"},
		},
		{
			name: "signals fail",
			sig: fakeSignals{
				errs:     map[string]error{"x": errStore},
				holdErrs: map[string]error{"x": errStore},
			},
			want: lifecycle.Unknown,
			phrases: []string{"could not read the last tool call: store unavailable",
				"could not read agent session output: store unavailable",
				"could not read keep-alive holds: store unavailable"},
		},
		{
			name:    "hold read fails, the rest quiet",
			sig:     fakeSignals{holdErrs: map[string]error{"x": errStore}},
			want:    lifecycle.Unknown,
			phrases: []string{"could not read keep-alive holds"},
		},
		{
			name: "tool and session reads fail but a hold is active",
			sig: fakeSignals{
				errs:  map[string]error{"x": errStore},
				holds: map[string]*lifecycle.Hold{"x": {Until: now.Add(time.Minute)}},
			},
			want:    lifecycle.Active,
			phrases: []string{"could not read the last tool call", "keep-alive hold until"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := env.detector(&tt.sig)
			got, err := d.FindIdle(t.Context(), []lifecycle.Sandbox{running("x", quiet)},
				tt.window, 0)
			if err != nil {
				t.Fatalf("FindIdle: %v", err)
			}
			wantVerdict(t, got[0], tt.want, tt.phrases...)
			if len(got[0].Reasons) != 4 {
				t.Errorf("got %d reasons, want one per signal: %q", len(got[0].Reasons),
					got[0].Reasons)
			}
		})
	}
}

func TestDetector_PrometheusDown(t *testing.T) {
	t.Parallel()
	env := newPromEnv(t, flyclient.WithRetries(0))
	env.traffic("sb-a", "m1", "eth0", 10)
	env.traffic("sb-b", "m2", "eth0", 10)
	env.srv.InjectFault(flylocal.Fault{Route: promRoute, Status: http.StatusServiceUnavailable})
	sig := &fakeSignals{tools: map[string]time.Time{"touched": env.now.Add(-time.Minute)}}
	sandboxes := []lifecycle.Sandbox{
		running("a", "m1"), running("b", "m2"), running("touched", "m3"),
		{Name: "off", App: "sb-off"},
	}
	d := env.detector(sig)
	logs := &recordHandler{}
	d.Logger = slog.New(logs)

	got, err := d.FindIdle(t.Context(), sandboxes, window, 0)
	if err != nil {
		t.Fatalf("FindIdle: %v", err)
	}

	v := byName(t, got)
	wantVerdict(t, v["a"], lifecycle.Unknown, "Prometheus query failed")
	wantVerdict(t, v["b"], lifecycle.Unknown, "Prometheus query failed")
	// A tool call a minute ago is activity whatever Prometheus says.
	wantVerdict(t, v["touched"], lifecycle.Active, "Prometheus query failed", "last tool call 1m")
	wantVerdict(t, v["off"], lifecycle.NotRunning)
	for _, x := range got {
		if x.Kind == lifecycle.Idle {
			t.Errorf("%s judged idle while Prometheus is down", x.Sandbox)
		}
	}
	if warns := logs.records(slog.LevelWarn); len(warns) != 1 ||
		!strings.Contains(warns[0]["error"], "503") {
		t.Errorf("warning lines %v, want one naming the 503", warns)
	}
}

// hangingMetrics answers nothing until ctx ends.
type hangingMetrics struct{}

func (hangingMetrics) Query(ctx context.Context, _, _ string, _ time.Time) (model.Value, error) {
	<-ctx.Done()

	return nil, ctx.Err()
}

// vectorMetrics answers every query with the same value and error.
type vectorMetrics struct {
	v   model.Value
	err error
}

func (m vectorMetrics) Query(context.Context, string, string, time.Time) (model.Value, error) {
	return m.v, m.err
}

func TestDetector_MetricsFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		metrics lifecycle.Metrics
		phrase  string
	}{
		{"timeout", hangingMetrics{}, "context deadline exceeded"},
		{"error", vectorMetrics{err: errors.New("boom")}, "Prometheus query failed"},
		{"not a vector", vectorMetrics{v: &model.Scalar{}}, "want a vector"},
		{"empty answer", vectorMetrics{v: model.Vector{}}, "Prometheus has no series for it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := &lifecycle.Detector{Metrics: tt.metrics, Signals: &fakeSignals{},
				Org: testOrg, Prefix: testPrefix, QueryTimeout: 20 * time.Millisecond}
			got, err := d.FindIdle(t.Context(), []lifecycle.Sandbox{running("a", "m1")}, window, 0)
			if err != nil {
				t.Fatalf("FindIdle: %v", err)
			}
			wantVerdict(t, got[0], lifecycle.Unknown, tt.phrase)
		})
	}
}

func TestDetector_PrefixQuoting(t *testing.T) {
	t.Parallel()
	env := newPromEnv(t)
	// A dot in the prefix must match only a dot: sbXx-b is not a sandbox.
	env.traffic("sb.x-a", "m1", "eth0", 10)
	env.traffic("sbXx-b", "m2", "eth0", 1e6)
	d := env.detector(&fakeSignals{})
	d.Prefix = "sb.x-"
	sandboxes := []lifecycle.Sandbox{
		{Name: "a", App: "sb.x-a", MachineID: "m1", Running: true},
		{Name: "b", App: "sbXx-b", MachineID: "m2", Running: true},
	}

	got, err := d.FindIdle(t.Context(), sandboxes, window, 0)
	if err != nil {
		t.Fatalf("FindIdle: %v", err)
	}

	if q := env.metrics.queries[0]; !strings.Contains(q, `app=~"sb\\.x-.*"`) {
		t.Errorf("query %s: want the prefix quoted as sb\\\\.x-", q)
	}
	if env.metrics.apps["sbXx-b"] {
		t.Errorf("the prefix sb.x- matched app sbXx-b")
	}
	wantVerdict(t, got[0], lifecycle.Idle)
	wantVerdict(t, got[1], lifecycle.Unknown, "does not start with the prefix sb.x-")
}

func TestDetector_NothingRunning(t *testing.T) {
	t.Parallel()
	env := newPromEnv(t)
	got, err := env.detector(&fakeSignals{}).FindIdle(t.Context(),
		[]lifecycle.Sandbox{{Name: "p", App: "sb-p", Status: "paused"}}, window, 0)
	if err != nil {
		t.Fatalf("FindIdle: %v", err)
	}
	if n := env.promQueries(); n != 0 {
		t.Errorf("made %d Prometheus requests with nothing running, want 0", n)
	}
	wantVerdict(t, got[0], lifecycle.NotRunning)
}

func TestDetector_Errors(t *testing.T) {
	t.Parallel()
	ok := lifecycle.Detector{Metrics: vectorMetrics{v: model.Vector{}}, Signals: &fakeSignals{},
		Org: testOrg, Prefix: testPrefix}
	sbs := []lifecycle.Sandbox{running("a", "m1")}

	tests := []struct {
		name   string
		mutate func(*lifecycle.Detector)
		window time.Duration
		thresh int64
		want   string
	}{
		{"no metrics", func(d *lifecycle.Detector) { d.Metrics = nil }, 0, 0, "needs Metrics"},
		{"no prefix", func(d *lifecycle.Detector) { d.Prefix = "" }, 0, 0, "app prefix"},
		{"negative window", nil, -time.Minute, 0, "must not be negative"},
		{"short window", nil, 30 * time.Second, 0, "shorter than 1m0s"},
		{"negative threshold", nil, 0, -1, "must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := ok
			if tt.mutate != nil {
				tt.mutate(&d)
			}
			_, err := d.FindIdle(t.Context(), sbs, tt.window, tt.thresh)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("FindIdle error %v, want one saying %q", err, tt.want)
			}
		})
	}

	t.Run("cancelled", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		d := ok
		d.Metrics = hangingMetrics{}
		if _, err := d.FindIdle(ctx, sbs, 0, 0); !errors.Is(err, context.Canceled) {
			t.Errorf("FindIdle on a cancelled context: %v, want context.Canceled", err)
		}
	})
}

func TestDetector_Queries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		window time.Duration
		want   []string
	}{
		{30 * time.Minute, []string{
			`sum by (app, instance) (increase(fly_instance_net_recv_bytes{app=~"sb-.*",` +
				`device="eth0"}[30m]))`,
			`sum by (app, instance) (increase(fly_instance_net_sent_bytes{app=~"sb-.*",` +
				`device="eth0"}[30m]))`,
		}},
		{2 * time.Hour, []string{"[120m]", "[120m]"}},
		{90 * time.Second, []string{"[90s]", "[90s]"}},
		{61500 * time.Millisecond, []string{"[62s]", "[62s]"}},
	}
	for _, tt := range tests {
		t.Run(tt.window.String(), func(t *testing.T) {
			t.Parallel()
			rec := &recordingMetrics{next: vectorMetrics{v: model.Vector{}}}
			d := &lifecycle.Detector{Metrics: rec, Signals: &fakeSignals{}, Org: testOrg,
				Prefix: testPrefix}
			if _, err := d.FindIdle(t.Context(), []lifecycle.Sandbox{running("a", "m1")},
				tt.window, 0); err != nil {
				t.Fatalf("FindIdle: %v", err)
			}
			slices.Sort(rec.queries)
			if len(rec.queries) != 2 {
				t.Fatalf("made %d queries, want 2: %q", len(rec.queries), rec.queries)
			}
			for i, q := range rec.queries {
				if !strings.Contains(q, tt.want[i]) {
					t.Errorf("query %s, want it to hold %s", q, tt.want[i])
				}
			}
		})
	}
}
