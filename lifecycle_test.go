package sandstorm_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/longrun/sandstorm"
	"github.com/longrun/sandstorm/flyclient"
	"github.com/longrun/sandstorm/flyclient/flylocal"
	"github.com/longrun/sandstorm/internal/clock"
	"github.com/longrun/sandstorm/lifecycle"
	"github.com/longrun/sandstorm/store"
)

// testPolicy warns after 10 idle minutes, pauses after 20 and deletes after
// two days paused.
var testPolicy = lifecycle.Policy{WarnAfter: 10 * time.Minute, PauseAfter: 20 * time.Minute,
	DeleteAfter: 48 * time.Hour}

// lifeEnv is an env whose Manager runs on a fake clock, starting at t0, with
// flylocal's own scrapes out of the way: the test writes every network
// sample itself, at the fake times.
type lifeEnv struct {
	*env
	clock *clock.Manual
	t0    time.Time
}

func newLifeEnv(t *testing.T, configure ...func(*sandstorm.Config)) *lifeEnv {
	t.Helper()
	// Hours ahead of real time, so no sample flylocal took really is in a
	// window the test measures.
	t0 := time.Now().UTC().Add(3 * time.Hour).Truncate(time.Minute)
	clock := clock.NewManual(t0)
	configure = append([]func(*sandstorm.Config){func(c *sandstorm.Config) {
		c.Now = clock.Now
		c.IdlePolicy = testPolicy
		c.IdleWindow = 30 * time.Minute
	}}, configure...)
	e := newEnvOpts(t, flylocal.Options{ScrapeInterval: time.Hour}, 3*time.Second, configure...)

	return &lifeEnv{env: e, clock: clock, t0: t0}
}

// at moves the clock to t0 plus minutes and writes quiet network samples,
// a minute apart, for every running machine up to then.
func (le *lifeEnv) at(t *testing.T, minutes time.Duration) {
	t.Helper()
	le.clock.Set(le.t0.Add(minutes * time.Minute))
	le.quiet(t)
}

// quiet writes flat network counters, a sample a minute over the 40 minutes
// before now, for every running machine; the store drops the samples it
// already has.
func (le *lifeEnv) quiet(t *testing.T) {
	t.Helper()
	sbs, err := le.m.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	now := le.clock.Now()
	for _, sb := range sbs {
		if sb.MachineID == "" || sb.Status != sandstorm.StatusRunning {
			continue
		}
		for at := now.Add(-40 * time.Minute); !at.After(now); at = at.Add(time.Minute) {
			le.fly.AddNetworkSample(sb.App, sb.MachineID, at, 0, 0)
		}
	}
}

// check runs one lifecycle check and fails the test on any error in it.
func (le *lifeEnv) check(t *testing.T, cfg sandstorm.LifecycleConfig) *sandstorm.LifecycleReport {
	t.Helper()
	r, err := le.m.RunLifecycleCheck(t.Context(), cfg)
	if err != nil {
		t.Fatalf("lifecycle check: %v", err)
	}
	if len(r.Errors) > 0 {
		t.Fatalf("lifecycle check errors: %+v", r.Errors)
	}

	return r
}

// names lists the sandboxes of some actions.
func names(as []sandstorm.LifecycleAction) []string {
	out := []string{}
	for _, a := range as {
		out = append(out, a.Sandbox)
	}

	return out
}

// phase reads a sandbox's lifecycle through Get.
func (le *lifeEnv) phase(t *testing.T, name string) *sandstorm.LifecycleStatus {
	t.Helper()
	sb, err := le.m.Get(t.Context(), name)
	if err != nil {
		t.Fatalf("get %s: %v", name, err)
	}

	return sb.Lifecycle
}

// webhookSink is a webhook receiver that checks signatures and keeps the
// event types in order.
type webhookSink struct {
	mu     sync.Mutex
	events []string
	bad    int
}

func (w *webhookSink) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var ev lifecycle.Event
	w.mu.Lock()
	defer w.mu.Unlock()
	if !lifecycle.Verify("s3cret", body, r.Header.Get(lifecycle.HeaderSignature)) ||
		json.Unmarshal(body, &ev) != nil {
		w.bad++
		rw.WriteHeader(http.StatusBadRequest)

		return
	}
	w.events = append(w.events, string(ev.Type)+" "+ev.Sandbox)
}

func (w *webhookSink) got() ([]string, int) {
	w.mu.Lock()
	defer w.mu.Unlock()

	return slices.Clone(w.events), w.bad
}

// TestLifecycle_Transitions walks one sandbox through the whole policy:
// active while used, idle, warned, back to active on a tool call, warned
// again, paused after the pause time, kept while paused, and deleted after
// the deletion time, with every transition stored and every action sent to
// the hooks and the signed webhook.
func TestLifecycle_Transitions(t *testing.T) {
	t.Parallel()
	sink := &webhookSink{}
	hook := httptest.NewServer(sink)
	t.Cleanup(hook.Close)
	le := newLifeEnv(t, func(c *sandstorm.Config) {
		c.Webhook = &lifecycle.Webhook{URL: hook.URL, Secret: "s3cret"}
	})
	le.create(t, "a")
	var hooked []string
	var hookMu sync.Mutex
	record := func(a sandstorm.LifecycleAction) {
		hookMu.Lock()
		defer hookMu.Unlock()
		hooked = append(hooked, string(a.Action)+" "+a.Sandbox)
	}
	cfg := sandstorm.LifecycleConfig{OnWarn: record, OnPause: record, OnDelete: record}

	steps := []struct {
		minutes time.Duration
		exec    bool // run a command at this time instead of checking
		want    string
		phase   string
	}{
		{minutes: 10, want: "", phase: "active"}, // created 10 minutes ago
		{minutes: 31, want: "", phase: "active"}, // quiet for the window: idle starts
		{minutes: 41, want: "warned", phase: "warned"},
		{minutes: 45, exec: true},
		{minutes: 46, want: "reactivated", phase: "active"},
		{minutes: 76, want: "", phase: "active"},
		{minutes: 86, want: "warned", phase: "warned"},
		{minutes: 95, want: "", phase: "warned"},
		{minutes: 96, want: "paused", phase: "paused"},
		{minutes: 96 + 47*60, want: "", phase: "paused"},
		{minutes: 97 + 48*60, want: "deleted"},
	}
	for _, st := range steps {
		le.at(t, st.minutes)
		if st.exec {
			le.exec(t, "a", "true")
			continue
		}
		r := le.check(t, cfg)
		got := map[string][]string{"warned": names(r.Warned), "paused": names(r.Paused),
			"deleted": names(r.Deleted), "reactivated": names(r.Reactivated),
			"skipped": names(r.Skipped)}
		for kind, list := range got {
			want := []string{}
			if kind == st.want {
				want = []string{"a"}
			}
			if !slices.Equal(list, want) {
				t.Fatalf("at +%dm: %s = %v, want %v (report %+v)", st.minutes, kind, list,
					want, r)
			}
		}
		if st.want == "paused" && r.Paused[0].SnapshotID == "" {
			t.Errorf("pause reported no snapshot: %+v", r.Paused[0])
		}
		if st.want == "deleted" {
			break
		}
		if lc := le.phase(t, "a"); lc.Phase != st.phase {
			t.Fatalf("at +%dm: phase %s, want %s", st.minutes, lc.Phase, st.phase)
		}
	}

	if _, err := le.m.Get(t.Context(), "a"); !errors.Is(err, sandstorm.ErrNotFound) {
		t.Errorf("after the policy's delete, Get = %v; want not found", err)
	}
	if _, err := le.client.GetApp(t.Context(), "t-a"); !errors.Is(err, flyclient.ErrNotFound) {
		t.Errorf("app after delete: %v, want not found", err)
	}
	want := []string{"warn a", "warn a", "pause a", "delete a"}
	if !slices.Equal(hooked, want) {
		t.Errorf("hooks saw %v, want %v", hooked, want)
	}
	events, bad := sink.got()
	if !slices.Equal(events, want) || bad != 0 {
		t.Errorf("webhook got %v with %d badly signed, want %v", events, bad, want)
	}
	evs, err := le.store.Events(t.Context(), store.EventFilter{Sandbox: "a"})
	if err != nil {
		t.Fatal(err)
	}
	var policyOps []string
	for _, ev := range evs {
		if ev.Actor == store.ActorPolicy {
			policyOps = append(policyOps, ev.Operation)
		}
	}
	if !slices.Equal(policyOps, []string{"delete", "pause"}) {
		t.Errorf("audit events by the policy = %v, want delete and pause", policyOps)
	}
}

// TestLifecycle_TransitionsStored checks what sandbox_get shows of the
// policy: the phase, the times, and each transition with actor and reasons.
func TestLifecycle_TransitionsStored(t *testing.T) {
	t.Parallel()
	le := newLifeEnv(t)
	le.create(t, "b")
	for _, m := range []time.Duration{31, 41} {
		le.at(t, m)
		le.check(t, sandstorm.LifecycleConfig{})
	}
	le.at(t, 42)
	le.exec(t, "b", "true")
	le.at(t, 43)
	le.check(t, sandstorm.LifecycleConfig{})

	lc := le.phase(t, "b")
	if len(lc.Transitions) != 2 {
		t.Fatalf("transitions = %+v, want warned then active", lc.Transitions)
	}
	back, warn := lc.Transitions[0], lc.Transitions[1]
	if warn.From != "active" || warn.To != "warned" || warn.Actor != store.ActorPolicy ||
		!warn.At.Equal(le.t0.Add(41*time.Minute)) {
		t.Errorf("warning transition = %+v", warn)
	}
	if !strings.Contains(strings.Join(warn.Reasons, "\n"), "network traffic 0 B") {
		t.Errorf("warning reasons %q do not give the traffic", warn.Reasons)
	}
	if back.From != "warned" || back.To != "active" || back.Actor != store.ActorUser {
		t.Errorf("reactivation = %+v, want warned -> active by the user", back)
	}
	if !lc.LastUsedAt.Equal(le.t0.Add(42 * time.Minute)) {
		t.Errorf("last used %v, want the exec at +42m", lc.LastUsedAt)
	}
	if lc.Policy != (sandstorm.IdlePolicy{WarnAfterMinutes: 10, PauseAfterMinutes: 20,
		DeleteAfterDays: 2}) {
		t.Errorf("policy = %+v", lc.Policy)
	}

	// Listing files is use; reading the status, as above and here, is not.
	le.at(t, 50)
	if _, err := le.m.ListFiles(t.Context(), "b", "/data", 1); err != nil {
		t.Fatal(err)
	}
	le.at(t, 55)
	if got := le.phase(t, "b").LastUsedAt; !got.Equal(le.t0.Add(50 * time.Minute)) {
		t.Errorf("last used %v, want the listing at +50m", got)
	}
}

// TestLifecycle_NoDeleteWithoutSnapshot pins that a paused sandbox whose
// snapshot is not complete is never deleted, however long it waits.
func TestLifecycle_NoDeleteWithoutSnapshot(t *testing.T) {
	t.Parallel()
	le := newLifeEnv(t)
	le.create(t, "c")
	res, err := le.m.Pause(t.Context(), "c", nil)
	if err != nil {
		t.Fatal(err)
	}
	snaps, err := le.store.ListSnapshots(t.Context(), "c")
	if err != nil || len(snaps) != 1 {
		t.Fatalf("snapshots = %v, %v", snaps, err)
	}
	// The snapshot is no longer known complete, as when Fly lost it.
	snaps[0].Status = "failed"
	if err := le.store.PutSnapshot(t.Context(), snaps[0]); err != nil {
		t.Fatal(err)
	}
	if lc := le.phase(t, "c"); lc.Phase != "paused" || lc.PausedAt.IsZero() {
		t.Fatalf("after sandbox_pause, lifecycle = %+v, want paused", lc)
	}

	le.at(t, 60*24*10)
	r := le.check(t, sandstorm.LifecycleConfig{})
	if len(r.Deleted) != 0 {
		t.Fatalf("deleted %v without a snapshot", names(r.Deleted))
	}
	if _, err := le.m.Get(t.Context(), "c"); err != nil {
		t.Fatalf("sandbox gone: %v", err)
	}
	if _, err := le.client.GetVolume(t.Context(), "t-c", res.Sandbox.VolumeID); err != nil {
		t.Errorf("volume gone: %v", err)
	}
}

// TestLifecycle_RunningAgentNotPaused runs an agent that writes a line every
// fifth of a second with no network traffic and no tool calls while hours
// pass: it is never warned or paused. Once it is stopped, the sandbox goes
// the usual way.
func TestLifecycle_RunningAgentNotPaused(t *testing.T) {
	t.Parallel()
	if err := registerStub(); err != nil {
		t.Fatal(err)
	}
	le := newLifeEnv(t)
	if _, err := le.m.Create(t.Context(), sandstorm.CreateRequest{Name: "s", Agent: "stub",
		MemoryMB: 256, CPUs: 1}); err != nil {
		t.Fatal(err)
	}
	s := le.start(t, "work", "think hard", map[string]string{"STUB_LINES": "100000",
		"STUB_DELAY": "0.2"})

	for m := time.Duration(40); m <= 6*60; m += 20 {
		le.at(t, m)
		r := le.check(t, sandstorm.LifecycleConfig{})
		if len(r.Warned)+len(r.Paused) > 0 {
			t.Fatalf("at +%dm the policy acted on a running agent: %+v", m, r)
		}
	}
	idle, err := le.m.FindIdleSandboxes(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	v := idle.Sandboxes[0]
	if v.Kind != lifecycle.Active || !strings.Contains(strings.Join(v.Reasons, "\n"),
		"agent session running") {
		t.Fatalf("verdict = %+v, want active for the agent's output", v)
	}

	if _, err := le.m.StopSession(t.Context(), "s", "", s.ID); err != nil {
		t.Fatal(err)
	}
	warned := false
	for m := time.Duration(6*60 + 10); m <= 8*60 && !warned; m += 10 {
		le.at(t, m)
		warned = len(le.check(t, sandstorm.LifecycleConfig{}).Warned) == 1
	}
	if !warned {
		t.Error("the sandbox was never warned after its agent stopped")
	}
}

// TestLifecycle_KeepAlive holds a quiet sandbox for two hours: nothing
// happens until the hold ends, and the hold shows in its status.
func TestLifecycle_KeepAlive(t *testing.T) {
	t.Parallel()
	le := newLifeEnv(t)
	le.create(t, "k")
	st, err := le.m.KeepAlive(t.Context(), "k", 120, "long test run")
	if err != nil {
		t.Fatal(err)
	}
	if st.Hold == nil || !st.Hold.Active || st.Hold.Reason != "long test run" ||
		!st.Hold.Until.Equal(le.t0.Add(2*time.Hour)) {
		t.Fatalf("hold = %+v", st.Hold)
	}
	for m := time.Duration(31); m <= 119; m += 11 {
		le.at(t, m)
		if r := le.check(t, sandstorm.LifecycleConfig{}); len(r.Warned)+len(r.Paused) > 0 {
			t.Fatalf("at +%dm the policy acted on a held sandbox: %+v", m, r)
		}
	}
	le.at(t, 121)
	le.check(t, sandstorm.LifecycleConfig{})
	le.at(t, 131)
	if r := le.check(t, sandstorm.LifecycleConfig{}); !slices.Equal(names(r.Warned), []string{"k"}) {
		t.Errorf("10 minutes after the hold ended, warned = %v, want k", names(r.Warned))
	}

	for _, bad := range []int{-1, sandstorm.MaxKeepAliveMinutes + 1} {
		if _, err := le.m.KeepAlive(t.Context(), "k", bad, ""); !errors.Is(err,
			sandstorm.ErrInvalidInput) {
			t.Errorf("KeepAlive(%d) = %v, want invalid", bad, err)
		}
	}
	if _, err := le.m.KeepAlive(t.Context(), "nope", 5, ""); !errors.Is(err,
		sandstorm.ErrNotFound) {
		t.Errorf("KeepAlive on an unknown sandbox = %v, want not found", err)
	}
}

// TestLifecycle_DryRun returns the plan and changes nothing.
func TestLifecycle_DryRun(t *testing.T) {
	t.Parallel()
	le := newLifeEnv(t)
	le.create(t, "d")
	le.at(t, 31)
	le.check(t, sandstorm.LifecycleConfig{})
	le.at(t, 60)
	before := le.phase(t, "d")

	r := le.check(t, sandstorm.LifecycleConfig{DryRun: true})
	if len(r.Plan) != 1 || r.Plan[0].Action != lifecycle.ActionWarn || len(r.Warned) != 0 {
		t.Fatalf("dry run = %+v, want a planned warning only", r)
	}
	// Past the pause time the plan still warns first: no pause without one.
	after := le.phase(t, "d")
	if after.Phase != before.Phase || !after.IdleSince.Equal(before.IdleSince) ||
		len(after.Transitions) != len(before.Transitions) {
		t.Errorf("dry run changed the lifecycle: %+v -> %+v", before, after)
	}
	if r := le.check(t, sandstorm.LifecycleConfig{}); len(r.Warned) != 1 {
		t.Errorf("the real check after the dry run warned %v", names(r.Warned))
	}
}

// TestLifecycle_PrometheusDown pauses nothing while the metrics cannot be
// read, and says why.
func TestLifecycle_PrometheusDown(t *testing.T) {
	t.Parallel()
	le := newLifeEnv(t)
	le.create(t, "p")
	le.at(t, 31)
	le.check(t, sandstorm.LifecycleConfig{})
	remove := le.fly.InjectFault(flylocal.Fault{Route: "/prometheus/", Status: 503})

	for m := time.Duration(41); m <= 300; m += 20 {
		le.at(t, m)
		r := le.check(t, sandstorm.LifecycleConfig{})
		if len(r.Warned)+len(r.Paused) > 0 || r.Unknown != 1 {
			t.Fatalf("at +%dm with Prometheus down: %+v", m, r)
		}
	}
	idle, err := le.m.FindIdleSandboxes(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if v := idle.Sandboxes[0]; v.Kind != lifecycle.Unknown ||
		!strings.Contains(strings.Join(v.Reasons, "\n"), "Prometheus") {
		t.Errorf("verdict = %+v, want unknown for Prometheus", v)
	}

	remove()
	le.at(t, 320)
	if r := le.check(t, sandstorm.LifecycleConfig{}); len(r.Warned) != 1 {
		t.Errorf("with Prometheus back, warned = %v, want p", names(r.Warned))
	}
}

// TestLifecycle_TwoServers runs the policy loops of two servers, sharing a
// store file and a flylocal, for many cycles while time passes: each sandbox
// is warned once and paused once, with one snapshot, and no check fails.
func TestLifecycle_TwoServers(t *testing.T) {
	t.Parallel()
	le := newLifeEnv(t)
	st2, err := store.OpenSQLite(t.Context(), filepath.Join(le.stateDir, "sandstorm.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st2.Close() })
	m2, err := sandstorm.New(le.client, st2, le.m.Config())
	if err != nil {
		t.Fatal(err)
	}
	sandboxes := []string{"r1", "r2", "r3", "r4"}
	for _, name := range sandboxes {
		le.create(t, name)
	}

	var mu sync.Mutex
	counts := map[string]int{}
	var failures []string
	loops := make([]*lifecycle.Loop, 2)
	for i, m := range []*sandstorm.Manager{le.m, m2} {
		loops[i] = &lifecycle.Loop{Name: fmt.Sprintf("server-%d", i), Interval: 5 * time.Millisecond,
			Check: func(ctx context.Context) error {
				r, err := m.RunLifecycleCheck(ctx, sandstorm.LifecycleConfig{})
				mu.Lock()
				defer mu.Unlock()
				if ctx.Err() != nil {
					// Stopping the loop cancels the check in progress.
					return ctx.Err()
				}
				if err != nil {
					failures = append(failures, err.Error())
					return err
				}
				for _, e := range r.Errors {
					failures = append(failures, e.Sandbox+": "+e.Error)
				}
				for _, a := range slices.Concat(r.Warned, r.Paused, r.Deleted) {
					counts[string(a.Action)+" "+a.Sandbox]++
				}

				return nil
			}}
		if err := loops[i].Start(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	for m := time.Duration(31); m <= 80; m += 3 {
		le.at(t, m)
		time.Sleep(40 * time.Millisecond)
	}
	// Under load the pauses may still be running: give them time to finish.
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		done := 0
		for _, name := range sandboxes {
			done += counts["pause "+name]
		}
		mu.Unlock()
		if done >= len(sandboxes) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, l := range loops {
		l.Stop()
	}

	if len(failures) > 0 {
		t.Errorf("checks failed: %q", failures)
	}
	for _, name := range sandboxes {
		if counts["warn "+name] != 1 || counts["pause "+name] != 1 {
			t.Errorf("%s: warned %d times and paused %d times, want once each", name,
				counts["warn "+name], counts["pause "+name])
		}
		snaps, err := le.store.ListSnapshots(t.Context(), name)
		if err != nil || len(snaps) != 1 {
			t.Errorf("%s: snapshots %v, %v; want exactly one", name, snaps, err)
		}
		if sb, err := le.m.Get(t.Context(), name); err != nil ||
			sb.Status != sandstorm.StatusPaused {
			t.Errorf("%s: %v, %v; want paused", name, sb, err)
		}
	}
}

// TestLifecycle_OwnPolicy gives a sandbox its own idle policy at create:
// no warning and an hour before the pause, over the server's ten and twenty
// minutes, while a sandbox without one follows the server's.
func TestLifecycle_OwnPolicy(t *testing.T) {
	t.Parallel()
	le := newLifeEnv(t)
	if _, err := le.m.Create(t.Context(), sandstorm.CreateRequest{Name: "own", MemoryMB: 256,
		CPUs: 1, IdlePolicy: &sandstorm.IdlePolicy{WarnAfterMinutes: -1,
			PauseAfterMinutes: 60}}); err != nil {
		t.Fatal(err)
	}
	le.create(t, "std")
	if p := le.phase(t, "own").Policy; p != (sandstorm.IdlePolicy{PauseAfterMinutes: 60,
		DeleteAfterDays: 2}) {
		t.Errorf("own policy in force = %+v", p)
	}

	acted := map[string][]string{}
	for m := time.Duration(31); m <= 91; m += 10 {
		le.at(t, m)
		r := le.check(t, sandstorm.LifecycleConfig{})
		for _, a := range slices.Concat(r.Warned, r.Paused) {
			acted[a.Sandbox] = append(acted[a.Sandbox], fmt.Sprintf("%s@%d", a.Action, m))
		}
	}
	if got := strings.Join(acted["std"], " "); got != "warn@41 pause@51" {
		t.Errorf("std: %s, want the server's warning at +41m and pause at +51m", got)
	}
	if got := strings.Join(acted["own"], " "); got != "pause@91" {
		t.Errorf("own: %s, want only a pause at +91m", got)
	}
}
