package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"
)

// Kind is the activity verdict on one sandbox.
type Kind string

// Activity verdicts.
const (
	// Idle means every signal was read and all were quiet over the window.
	Idle Kind = "idle"
	// Active means at least one signal showed activity.
	Active Kind = "active"
	// Unknown means no signal showed activity but at least one could not be
	// read. An unknown sandbox must be left alone.
	Unknown Kind = "unknown"
	// NotRunning means the sandbox has no running machine to measure.
	NotRunning Kind = "not_running"
)

// Defaults of Detector and FindIdle.
const (
	// DefaultWindow is the span FindIdle measures when given none.
	DefaultWindow = 30 * time.Minute
	// DefaultThresholdBytes is the traffic, received plus sent, under which a
	// machine's network is quiet over the window: 10 KiB.
	DefaultThresholdBytes = 10 << 10
	// DefaultSessionGrace is how long a running agent session counts as
	// active after its last output, when the window is shorter.
	DefaultSessionGrace = 30 * time.Minute
	// DefaultQueryTimeout bounds the Prometheus queries of one FindIdle call.
	DefaultQueryTimeout = 30 * time.Second
)

// judgeWorkers bounds the sandboxes judged at once: reading a sandbox's
// session output may take an exec in its machine.
const judgeWorkers = 8

// minWindow is the shortest window FindIdle accepts: Fly scrapes its counters
// about every 15 s, so anything shorter would mostly find no samples.
const minWindow = time.Minute

// Sandbox is what FindIdle needs to know about one sandbox.
type Sandbox struct {
	// Name is the sandbox name; App is its Fly app, <prefix><name>.
	Name string
	App  string
	// MachineID is the current machine, empty when there is none.
	MachineID string
	VolumeID  string
	// Status is the sandbox status as the Manager reports it, for reasons.
	Status string
	// Running reports whether the machine is started or on its way to it,
	// that is whether it costs money. Only running sandboxes are measured.
	Running bool
}

// Hold is a keep-alive hold: a request that the sandbox stay up until Until.
// A zero Until means the hold has no end.
type Hold struct {
	Until  time.Time
	Reason string
	Actor  string
}

// Signals are the activity records kept outside Fly. Each method is a read;
// an error makes the signal, and so the verdict, unknown unless another
// signal shows activity. FindIdle calls them from several goroutines at once.
type Signals interface {
	// LastToolCall returns when a tool call last touched the sandbox, or the
	// zero time if none ever did.
	LastToolCall(ctx context.Context, sandbox string) (time.Time, error)

	// LastSessionOutput returns when any agent session of the sandbox last
	// wrote output, and whether one is running now. A running session that
	// has written nothing yet reports its start time. Zero and false mean
	// no session ever wrote output.
	LastSessionOutput(ctx context.Context, sandbox string) (time.Time, bool, error)

	// Hold returns the sandbox's keep-alive hold, or nil when it has none. A
	// hold that has expired may be returned or not; FindIdle compares Until
	// with its own clock.
	Hold(ctx context.Context, sandbox string) (*Hold, error)
}

// Verdict is FindIdle's judgement of one sandbox, with the reasons for it.
type Verdict struct {
	Sandbox   string `json:"sandbox"`
	App       string `json:"app"`
	MachineID string `json:"machine_id,omitempty"`
	VolumeID  string `json:"volume_id,omitempty"`
	Kind      Kind   `json:"verdict"`
	// LastActivity is the latest of the last tool call, the last session
	// output and the end of a hold (now, for a hold still active); zero when
	// none is known. Network traffic is not in it: it is known only as a
	// total over the window.
	LastActivity time.Time `json:"last_activity,omitzero"`
	// IdleMinutes is, for an idle sandbox, the whole minutes since
	// LastActivity, or the window's when there was none; else zero.
	IdleMinutes int `json:"idle_minutes"`
	// Bytes is the traffic received plus sent over the window; BytesKnown
	// says whether Prometheus reported it.
	Bytes      int64 `json:"bytes"`
	BytesKnown bool  `json:"bytes_known"`
	// Reasons holds one sentence per signal, quiet or not.
	Reasons []string `json:"reasons"`
}

// Detector judges sandboxes idle or active. Set Metrics, Signals, Org and
// Prefix; the other fields have defaults. It pauses nothing and is safe for
// concurrent use if its dependencies are.
type Detector struct {
	// Metrics answers PromQL over Org; *flyclient.Client satisfies it.
	Metrics Metrics
	// Signals reads tool calls, session output and holds.
	Signals Signals
	// Org is the Fly organization slug whose Prometheus is queried.
	Org string
	// Prefix starts the app name of every sandbox; one query per counter
	// covers every app with it.
	Prefix string
	// SessionGrace is how long a running session stays active after its last
	// output, when longer than the window. Default DefaultSessionGrace.
	SessionGrace time.Duration
	// QueryTimeout bounds the Prometheus queries. Default DefaultQueryTimeout.
	QueryTimeout time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives a warning when metrics are unavailable. Default: none.
	Logger *slog.Logger
}

// FindIdle judges every sandbox over the window ending now: idle, active,
// unknown or not running, in the order given. A zero window means
// DefaultWindow and a zero threshold DefaultThresholdBytes. It makes at most
// two Prometheus queries whatever the number of sandboxes. An unavailable
// Prometheus or a failing Signals call makes verdicts unknown, not an error;
// FindIdle fails only for bad arguments or when ctx ends.
func (d *Detector) FindIdle(
	ctx context.Context,
	sandboxes []Sandbox,
	window time.Duration,
	thresholdBytes int64,
) ([]Verdict, error) {
	j, err := d.judge(window, thresholdBytes)
	if err != nil {
		return nil, fmt.Errorf("find idle sandboxes: %w", err)
	}

	var net netUsage
	if anyRunning(sandboxes) {
		net = d.queryNetwork(ctx, j.window, j.now)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("find idle sandboxes: %w", err)
	}
	log := orDiscard(d.Logger)
	if net.err != nil {
		log.LogAttrs(ctx, slog.LevelWarn,
			"network metrics unavailable; running sandboxes are unknown",
			slog.String(logOrg, d.Org), slog.String(logPrefix, d.Prefix),
			slog.String(logError, net.err.Error()))
	}

	out := make([]Verdict, len(sandboxes))
	sem := make(chan struct{}, judgeWorkers)
	var wg sync.WaitGroup
	for i, sb := range sandboxes {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			out[i] = j.verdict(ctx, d.Signals, d.Prefix, sb, net)
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("find idle sandboxes: %w", err)
	}
	counts := map[Kind]int{}
	for _, v := range out {
		counts[v.Kind]++
	}
	log.LogAttrs(ctx, slog.LevelDebug, "activity judged",
		slog.Int(logSandboxes, len(out)), slog.Int(logIdle, counts[Idle]),
		slog.Int(logUnknown, counts[Unknown]))

	return out, nil
}

// judge validates the arguments and fixes the parameters of one call.
func (d *Detector) judge(window time.Duration, threshold int64) (judgement, error) {
	switch {
	case d.Metrics == nil || d.Signals == nil:
		return judgement{}, errors.New("detector needs Metrics and Signals")
	case d.Org == "" || d.Prefix == "":
		return judgement{}, errors.New("detector needs an org slug and an app prefix")
	case window < 0 || threshold < 0:
		return judgement{}, fmt.Errorf("window %s and threshold %d must not be negative",
			window, threshold)
	}
	if window == 0 {
		window = DefaultWindow
	}
	if window < minWindow {
		return judgement{}, fmt.Errorf("window %s is shorter than %s: Fly scrapes "+
			"network counters about every 15s", window, minWindow)
	}
	if threshold == 0 {
		threshold = DefaultThresholdBytes
	}
	grace := d.SessionGrace
	if grace <= 0 {
		grace = DefaultSessionGrace
	}
	now := time.Now
	if d.Now != nil {
		now = d.Now
	}

	return judgement{
		now:       now(),
		window:    window,
		grace:     max(window, grace),
		threshold: threshold,
	}, nil
}

// queryTimeout returns the bound on the Prometheus queries.
func (d *Detector) queryTimeout() time.Duration {
	if d.QueryTimeout > 0 {
		return d.QueryTimeout
	}

	return DefaultQueryTimeout
}

// anyRunning reports whether any sandbox has a machine to measure.
func anyRunning(sandboxes []Sandbox) bool {
	for _, sb := range sandboxes {
		if sb.Running {
			return true
		}
	}

	return false
}

// judgement holds the fixed parameters of one FindIdle call.
type judgement struct {
	now       time.Time
	window    time.Duration
	grace     time.Duration // for running sessions, already max(window, grace)
	threshold int64
}

// evidence gathers what the signals said about one sandbox.
type evidence struct {
	active  bool // some signal showed activity
	missing bool // some signal could not be read
	last    time.Time
	reasons []string
}

func (e *evidence) add(active bool, format string, args ...any) {
	e.active = e.active || active
	e.reasons = append(e.reasons, fmt.Sprintf(format, args...))
}

func (e *evidence) lack(format string, args ...any) {
	e.missing = true
	e.reasons = append(e.reasons, fmt.Sprintf(format, args...))
}

func (e *evidence) touched(t time.Time) {
	if t.After(e.last) {
		e.last = t
	}
}

// verdict judges one sandbox from the network answer and its signals.
func (j judgement) verdict(
	ctx context.Context,
	sig Signals,
	prefix string,
	sb Sandbox,
	net netUsage,
) Verdict {
	v := Verdict{Sandbox: sb.Name, App: sb.App, MachineID: sb.MachineID, VolumeID: sb.VolumeID}
	if !sb.Running {
		v.Kind = NotRunning
		status := ""
		if sb.Status != "" {
			status = " (status " + sb.Status + ")"
		}
		v.Reasons = []string{"machine is not running" + status + "; nothing to measure"}

		return v
	}

	var e evidence
	v.Bytes, v.BytesKnown = j.network(&e, prefix, sb, net)
	j.toolCalls(ctx, &e, sig, sb.Name)
	j.hold(ctx, &e, sig, sb.Name)
	// Reading session output can cost an exec in the machine; a sandbox
	// already shown active needs no more evidence.
	if e.active {
		e.add(false, "agent sessions not read: the sandbox is already active")
	} else {
		j.sessions(ctx, &e, sig, sb.Name)
	}

	v.LastActivity, v.Reasons = e.last, e.reasons
	switch {
	case e.active:
		v.Kind = Active
	case e.missing:
		v.Kind = Unknown
	default:
		v.Kind = Idle
		v.IdleMinutes = int(j.window / time.Minute)
		if !e.last.IsZero() {
			v.IdleMinutes = int(max(j.now.Sub(e.last), 0) / time.Minute)
		}
	}

	return v
}

// within reports whether t lies in the span d ending now; a time after now
// counts as within.
func (j judgement) within(t time.Time, d time.Duration) bool {
	return !t.IsZero() && t.After(j.now.Add(-d))
}

// network reads the sandbox's traffic from the query answer.
func (j judgement) network(e *evidence, prefix string, sb Sandbox, net netUsage) (int64, bool) {
	w := humanDuration(j.window)
	switch {
	case net.err != nil:
		e.lack("Prometheus query failed, so network activity is unknown: %v", net.err)

		return 0, false
	case sb.MachineID == "":
		e.lack("sandbox is marked running but has no machine ID to measure")

		return 0, false
	case !strings.HasPrefix(sb.App, prefix):
		e.lack("app %s does not start with the prefix %s, so the network query does not cover it",
			sb.App, prefix)

		return 0, false
	}

	k := seriesKey{app: sb.App, instance: sb.MachineID}
	recv, haveRecv := net.recv[k]
	sent, haveSent := net.sent[k]
	switch {
	case !haveRecv && !haveSent:
		e.lack("no network metrics for machine %s over %s: Prometheus has no series for it",
			sb.MachineID, w)

		return 0, false
	case !haveRecv || !haveSent:
		e.lack("no network metrics for machine %s over %s: Prometheus has only one of "+
			"the received and sent series for it", sb.MachineID, w)

		return 0, false
	}

	total := recv + sent
	limit := humanBytes(float64(j.threshold))
	if total >= float64(j.threshold) {
		e.add(true, "network traffic %s over %s, at or above the %s threshold",
			humanBytes(total), w, limit)
	} else {
		e.add(false, "network traffic %s over %s, under the %s threshold",
			humanBytes(total), w, limit)
	}

	return int64(math.Round(total)), true
}

// toolCalls reads the last tool call that touched the sandbox.
func (j judgement) toolCalls(ctx context.Context, e *evidence, sig Signals, name string) {
	t, err := sig.LastToolCall(ctx, name)
	switch {
	case err != nil:
		e.lack("could not read the last tool call: %v", err)
	case t.IsZero():
		e.add(false, "no tool call has touched it")
	case j.within(t, j.window):
		e.touched(t)
		e.add(true, "last tool call %s ago, within %s", j.ago(t), humanDuration(j.window))
	default:
		e.touched(t)
		e.add(false, "last tool call %s ago, before the %s window", j.ago(t),
			humanDuration(j.window))
	}
}

// sessions reads the agent sessions' last output. A running session is
// active for the longer grace; one that ended, for the window.
func (j judgement) sessions(ctx context.Context, e *evidence, sig Signals, name string) {
	t, running, err := sig.LastSessionOutput(ctx, name)
	if err != nil {
		e.lack("could not read agent session output: %v", err)

		return
	}
	e.touched(t)
	w, g := humanDuration(j.window), humanDuration(j.grace)
	switch {
	case running && t.IsZero():
		// The interface promises a start time; without one, trust the
		// running flag rather than pause an agent that may be thinking.
		e.add(true, "agent session running with no output time reported")
	case running && j.within(t, j.grace):
		e.add(true, "agent session running, last output %s ago, within the %s grace "+
			"for running sessions", j.ago(t), g)
	case running:
		e.add(false, "agent session running but silent for %s, beyond the %s grace "+
			"for running sessions", j.ago(t), g)
	case t.IsZero():
		e.add(false, "no agent session has written output")
	case j.within(t, j.window):
		e.add(true, "agent session output %s ago, within %s", j.ago(t), w)
	default:
		e.add(false, "last agent session output %s ago, before the %s window", j.ago(t), w)
	}
}

// hold reads the sandbox's keep-alive hold.
func (j judgement) hold(ctx context.Context, e *evidence, sig Signals, name string) {
	h, err := sig.Hold(ctx, name)
	switch {
	case err != nil:
		e.lack("could not read keep-alive holds: %v", err)
	case h == nil:
		e.add(false, "no keep-alive hold")
	case h.Until.IsZero():
		e.touched(j.now)
		e.add(true, "keep-alive hold with no end%s", holdDetail(h))
	case h.Until.After(j.now):
		e.touched(j.now)
		e.add(true, "keep-alive hold until %s%s", h.Until.UTC().Format(time.RFC3339),
			holdDetail(h))
	default:
		e.touched(h.Until)
		e.add(false, "keep-alive hold ended %s ago%s", j.ago(h.Until), holdDetail(h))
	}
}

// holdDetail describes who placed a hold and why.
func holdDetail(h *Hold) string {
	var b strings.Builder
	if h.Actor != "" {
		b.WriteString(", placed by " + h.Actor)
	}
	if h.Reason != "" {
		b.WriteString(": " + h.Reason)
	}

	return b.String()
}

// ago renders how long before now t was; a future t is 0s ago.
func (j judgement) ago(t time.Time) string {
	return humanDuration(max(j.now.Sub(t), 0))
}
