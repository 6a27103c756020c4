package sandstorm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/model"

	"github.com/longrun/sandstorm/lifecycle"
	"github.com/longrun/sandstorm/store"
)

// Bounds of the idle window FindIdleSandboxes and the policy measure over.
const (
	MinIdleMinutes = 1
	MaxIdleMinutes = 7 * 24 * 60
)

// IdlePolicy is an idle policy in the units the tools use. In a sandbox's own
// policy, zero fields take the server's value and -1 turns the warning or the
// deletion off.
type IdlePolicy struct {
	WarnAfterMinutes  int `json:"warn_after_minutes,omitempty"`
	PauseAfterMinutes int `json:"pause_after_minutes,omitempty"`
	DeleteAfterDays   int `json:"delete_after_days,omitempty"`
}

// Policy converts p to durations, keeping -1 as "off", as
// lifecycle.Policy.Override reads it.
func (p IdlePolicy) Policy() lifecycle.Policy {
	scale := func(n int, unit time.Duration) time.Duration {
		if n < 0 {
			return -1
		}

		return time.Duration(n) * unit
	}

	return lifecycle.Policy{
		WarnAfter:   scale(p.WarnAfterMinutes, time.Minute),
		PauseAfter:  scale(p.PauseAfterMinutes, time.Minute),
		DeleteAfter: scale(p.DeleteAfterDays, 24*time.Hour),
	}
}

// idlePolicyOf reports a policy in the tools' units.
func idlePolicyOf(p lifecycle.Policy) IdlePolicy {
	return IdlePolicy{
		WarnAfterMinutes:  int(p.WarnAfter / time.Minute),
		PauseAfterMinutes: int(p.PauseAfter / time.Minute),
		DeleteAfterDays:   int(p.DeleteAfter / (24 * time.Hour)),
	}
}

// validate checks a sandbox's own policy against the server's base policy.
func (p IdlePolicy) validate(base lifecycle.Policy) error {
	const advice = "Give warn_after_minutes below pause_after_minutes, both positive, and " +
		"delete_after_days of zero or more; -1 turns the warning or the deletion off."
	for _, n := range []int{p.WarnAfterMinutes, p.PauseAfterMinutes, p.DeleteAfterDays} {
		if n < -1 {
			return invalidf(advice, "idle policy value %d is not valid", n)
		}
	}
	if _, err := base.Override(p.Policy()); err != nil {
		return invalidf(advice, "idle policy: %v", err)
	}

	return nil
}

// IdleReport is what FindIdleSandboxes found: a verdict for every sandbox,
// idle or not, each with its reasons.
type IdleReport struct {
	CheckedAt      time.Time           `json:"checked_at"`
	WindowMinutes  int                 `json:"window_minutes"`
	ThresholdBytes int64               `json:"threshold_bytes"`
	Idle           int                 `json:"idle"`
	Active         int                 `json:"active"`
	Unknown        int                 `json:"unknown"`
	NotRunning     int                 `json:"not_running"`
	Sandboxes      []lifecycle.Verdict `json:"sandboxes"`
}

// FindIdleSandboxes judges every sandbox over the last minutes (zero means
// the configured window): idle when its network traffic is under the
// threshold, no agent session wrote output, no tool call used it and no
// keep-alive hold is active. Missing metrics make a verdict unknown, never
// idle. It makes two Prometheus queries whatever the number of sandboxes,
// and changes nothing.
func (m *Manager) FindIdleSandboxes(ctx context.Context, minutes int) (*IdleReport, error) {
	window, err := IdleWindow(minutes)
	if err != nil {
		return nil, err
	}
	if window == 0 {
		window = m.cfg.IdleWindow
	}
	c, err := m.judge(ctx, window, m.cfg.IdleThresholdBytes)
	if err != nil {
		return nil, err
	}

	n := c.counts()

	return &IdleReport{CheckedAt: c.now, WindowMinutes: int(window / time.Minute),
		ThresholdBytes: c.threshold, Idle: n[lifecycle.Idle], Active: n[lifecycle.Active],
		Unknown: n[lifecycle.Unknown], NotRunning: n[lifecycle.NotRunning],
		Sandboxes: c.verdicts}, nil
}

// IdleWindow turns a window in whole minutes, as the tools take it, into a
// duration; zero stays zero, meaning the configured window.
func IdleWindow(minutes int) (time.Duration, error) {
	if minutes != 0 && (minutes < MinIdleMinutes || minutes > MaxIdleMinutes) {
		return 0, invalidf(fmt.Sprintf("Give minutes from %d to %d, or leave it out for "+
			"the configured window.", MinIdleMinutes, MaxIdleMinutes),
			"idle window of %d minutes is out of range", minutes)
	}

	return time.Duration(minutes) * time.Minute, nil
}

// cycle is one judgement of every sandbox: the records it was made from and
// the verdicts, in the records' order.
type cycle struct {
	now       time.Time
	window    time.Duration
	threshold int64
	recs      []store.Sandbox
	life      map[string]store.Lifecycle
	verdicts  []lifecycle.Verdict
	signals   *cycleSignals
	metrics   *cachedMetrics
}

// counts returns how many sandboxes got each verdict.
func (c *cycle) counts() map[lifecycle.Kind]int {
	n := make(map[lifecycle.Kind]int)
	for _, v := range c.verdicts {
		n[v.Kind]++
	}

	return n
}

// judge reads every sandbox's record and lifecycle state and judges them.
func (m *Manager) judge(ctx context.Context, window time.Duration, threshold int64,
) (*cycle, error) {
	recs, err := m.store.ListSandboxes(ctx)
	if err != nil {
		return nil, fmt.Errorf("list sandboxes: %w", err)
	}
	life, err := m.store.ListLifecycles(ctx)
	if err != nil {
		return nil, fmt.Errorf("read lifecycle states: %w", err)
	}
	c := &cycle{now: m.now(), window: window, threshold: threshold, recs: recs, life: life,
		metrics: &cachedMetrics{next: m.fly, answers: make(map[string]promAnswer)}}
	if c.threshold <= 0 {
		c.threshold = lifecycle.DefaultThresholdBytes
	}
	c.signals = newCycleSignals(m, life, recs, c.now)
	sbs := make([]lifecycle.Sandbox, len(recs))
	for i, rec := range recs {
		sbs[i] = judged(rec)
	}
	c.verdicts, err = m.detector(c.metrics, c.signals, c.now).FindIdle(ctx, sbs, window,
		c.threshold)
	if err != nil {
		return nil, err
	}

	return c, nil
}

// judged is what the detector needs to know of a sandbox's record.
func judged(rec store.Sandbox) lifecycle.Sandbox {
	return lifecycle.Sandbox{Name: rec.Name, App: rec.App, MachineID: rec.MachineID,
		VolumeID: rec.VolumeID, Status: rec.Status,
		Running: rec.Status == StatusRunning && rec.MachineID != ""}
}

// detector returns an activity detector reading metrics and sig at the
// instant now.
func (m *Manager) detector(metrics lifecycle.Metrics, sig lifecycle.Signals, now time.Time,
) *lifecycle.Detector {
	return &lifecycle.Detector{
		Metrics: metrics,
		Signals: sig,
		Org:     m.cfg.Org,
		Prefix:  m.cfg.Prefix,
		Now:     func() time.Time { return now },
		Logger:  m.log,
	}
}

// cachedMetrics asks next once per query and answers repeats from memory,
// so the re-check before a pause judges with the cycle's network figures
// and a cycle costs two Prometheus queries however much it does.
type cachedMetrics struct {
	next lifecycle.Metrics

	mu      sync.Mutex
	answers map[string]promAnswer
}

type promAnswer struct {
	v   model.Value
	err error
}

func (c *cachedMetrics) Query(ctx context.Context, org, q string, at time.Time,
) (model.Value, error) {
	c.mu.Lock()
	a, ok := c.answers[q]
	c.mu.Unlock()
	if ok {
		return a.v, a.err
	}
	v, err := c.next.Query(ctx, org, q, at)
	c.mu.Lock()
	c.answers[q] = promAnswer{v, err}
	c.mu.Unlock()

	return v, err
}

// cycleSignals answers the detector from the lifecycle states read at the
// start of a cycle, and from the sandboxes' machines for agent sessions.
type cycleSignals struct {
	m    *Manager
	life map[string]store.Lifecycle
	recs map[string]store.Sandbox
	now  time.Time

	mu sync.Mutex
	// running records the sandboxes seen with a running agent session.
	running map[string]bool
}

var _ lifecycle.Signals = (*cycleSignals)(nil)

func newCycleSignals(m *Manager, life map[string]store.Lifecycle, recs []store.Sandbox,
	now time.Time,
) *cycleSignals {
	s := &cycleSignals{m: m, life: life, recs: make(map[string]store.Sandbox, len(recs)),
		now: now, running: make(map[string]bool)}
	for _, rec := range recs {
		s.recs[rec.Name] = rec
	}

	return s
}

func (s *cycleSignals) LastToolCall(_ context.Context, name string) (time.Time, error) {
	return s.life[name].LastUsedAt, nil
}

func (s *cycleSignals) Hold(_ context.Context, name string) (*lifecycle.Hold, error) {
	h := s.life[name].Hold
	if h == nil {
		return nil, nil
	}

	return &lifecycle.Hold{Until: h.Until, Reason: h.Reason, Actor: h.Actor}, nil
}

func (s *cycleSignals) LastSessionOutput(ctx context.Context, name string,
) (time.Time, bool, error) {
	last, running, err := s.m.lastSessionOutput(ctx, s.recs[name], s.now)
	if running {
		s.mu.Lock()
		s.running[name] = true
		s.mu.Unlock()
	}

	return last, running, err
}

// sessionActivity prints, for each session file prefix, its state line and
// how many seconds ago its log was last written (-1 when there is no log).
// Ages come from the machine's own clock, so clock skew does not matter.
const sessionActivity = sessionState + `
now=$(date +%s)
for p in "$@"; do
  m=$(stat -c %Y "$p.log" 2>/dev/null || echo -1)
  [ "$m" -ge 0 ] && m=$((now - m))
  echo "$(st "$p") $m"
done`

// lastSessionOutput reports when the sandbox's agent sessions last wrote
// output and whether one still runs. Sessions the store has as ended count at
// their finish; running ones are read from the machine with one exec, and
// those found ended are recorded.
func (m *Manager) lastSessionOutput(ctx context.Context, rec store.Sandbox, now time.Time,
) (time.Time, bool, error) {
	recs, err := m.store.ListSessions(ctx, rec.Name, "")
	if err != nil {
		return time.Time{}, false, fmt.Errorf("list sessions of %s: %w", rec.Name, err)
	}
	var last time.Time
	var live []store.Session
	var prefixes []string
	for _, s := range recs {
		if s.Status == store.SessionRunning {
			live = append(live, s)
			prefixes = append(prefixes, strings.TrimSuffix(s.LogPath, ".log"))
		} else if s.FinishedAt.After(last) {
			last = s.FinishedAt
		}
	}
	if len(live) == 0 {
		return last, false, nil
	}

	out, err := m.plain(ctx, target{app: rec.App, machineID: rec.MachineID}, sessionActivity, prefixes...)
	if err != nil {
		return last, false, fmt.Errorf("read agent sessions of %s: %w", rec.Name, err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(live) {
		return last, false, fmt.Errorf("read agent sessions of %s: %d answers for %d sessions",
			rec.Name, len(lines), len(live))
	}
	running := false
	for i, line := range lines {
		f := strings.Fields(line)
		if len(f) != 4 {
			return last, false, fmt.Errorf("read agent sessions of %s: bad answer %q",
				rec.Name, line)
		}
		probe, perr := parseProbe(strings.Join(f[:3], " "))
		age, aerr := strconv.Atoi(f[3])
		if err := errors.Join(perr, aerr); err != nil {
			return last, false, fmt.Errorf("read agent sessions of %s: %w", rec.Name, err)
		}
		at := live[i].StartedAt
		if age >= 0 {
			at = now.Add(-time.Duration(age) * time.Second)
		}
		if at.After(last) {
			last = at
		}
		if probe.State == "running" {
			running = true
		} else {
			m.finish(ctx, &live[i], probe)
		}
	}

	return last, running, nil
}

// sandboxPolicy is the idle policy that applies to a sandbox: base with the
// sandbox's own policy, if it has one, on top.
func sandboxPolicy(base lifecycle.Policy, lc store.Lifecycle) (lifecycle.Policy, error) {
	if len(lc.Policy) == 0 {
		return base, nil
	}
	var own IdlePolicy
	if err := json.Unmarshal(lc.Policy, &own); err != nil {
		return base, fmt.Errorf("decode idle policy of %s: %w", lc.Sandbox, err)
	}

	return base.Override(own.Policy())
}
