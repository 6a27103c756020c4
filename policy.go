package sandstorm

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/longrun/sandstorm/flyclient"
	"github.com/longrun/sandstorm/lifecycle"
	"github.com/longrun/sandstorm/store"
)

// LifecycleConfig configures one lifecycle check. Zero fields take the
// Manager's configuration.
type LifecycleConfig struct {
	// Policy's non-zero fields replace the server's idle policy for this
	// check; a sandbox's own policy still applies on top.
	Policy lifecycle.Policy
	// Window and ThresholdBytes are as in Config.
	Window         time.Duration
	ThresholdBytes int64
	// DryRun returns the plan and changes nothing.
	DryRun bool
	// OnWarn, OnPause and OnDelete are called after each action succeeded,
	// never in a dry run. They run on the check's goroutines and must not
	// block.
	OnWarn, OnPause, OnDelete func(LifecycleAction)
}

// LifecycleAction is one thing the idle policy did, or in a dry run would
// do, to a sandbox, with the reasons.
type LifecycleAction struct {
	Sandbox    string           `json:"sandbox"`
	App        string           `json:"app"`
	Action     lifecycle.Action `json:"action"`
	From       lifecycle.Phase  `json:"from"`
	To         lifecycle.Phase  `json:"to"`
	Actor      string           `json:"actor"`
	Reasons    []string         `json:"reasons"`
	SnapshotID string           `json:"snapshot_id,omitempty"`
	At         time.Time        `json:"at"`
}

// LifecycleFailure is an action that failed; it is decided again at the
// next check.
type LifecycleFailure struct {
	Sandbox string           `json:"sandbox"`
	Action  lifecycle.Action `json:"action"`
	Error   string           `json:"error"`
}

// LifecycleReport is what one lifecycle check did. Skipped holds actions
// called off at the last moment: another server held the machine's lease,
// or activity appeared on the re-check. In a dry run only Plan is filled.
type LifecycleReport struct {
	CheckedAt   time.Time          `json:"checked_at"`
	DryRun      bool               `json:"dry_run"`
	Checked     int                `json:"checked"`
	Idle        int                `json:"idle"`
	Unknown     int                `json:"unknown"`
	Warned      []LifecycleAction  `json:"warned"`
	Paused      []LifecycleAction  `json:"paused"`
	Deleted     []LifecycleAction  `json:"deleted"`
	Reactivated []LifecycleAction  `json:"reactivated"`
	Skipped     []LifecycleAction  `json:"skipped"`
	Plan        []LifecycleAction  `json:"plan"`
	Errors      []LifecycleFailure `json:"errors"`
}

// policyLeaseTTL bounds how long a pause holds the machine's lease; the lease
// ends with the machine when the pause succeeds.
const policyLeaseTTL = 10 * time.Minute

// policyWorkers bounds the policy actions a check runs at once.
const policyWorkers = 8

// errSkip calls a policy action off without failing it.
var errSkip = errors.New("skipped")

// RunLifecycleCheck judges every sandbox and applies the idle policy: it
// warns, pauses, deletes, or returns to active each sandbox whose verdict and
// state call for it, storing every transition with its reasons. Before a
// pause it takes the machine's lease and judges the sandbox again, so several
// servers can run checks on one organization. An unknown verdict changes
// nothing. Failed actions are in the report; the error is for a check that
// could not run at all.
func (m *Manager) RunLifecycleCheck(ctx context.Context, cfg LifecycleConfig,
) (*LifecycleReport, error) {
	base, err := m.cfg.IdlePolicy.Override(cfg.Policy)
	if err != nil {
		return nil, invalidf("Give thresholds that fit together: warn before pause.",
			"lifecycle check: %v", err)
	}
	if cfg.Window <= 0 {
		cfg.Window = m.cfg.IdleWindow
	}
	if cfg.ThresholdBytes <= 0 {
		cfg.ThresholdBytes = m.cfg.IdleThresholdBytes
	}
	c, err := m.judge(ctx, cfg.Window, cfg.ThresholdBytes)
	if err != nil {
		return nil, fmt.Errorf("lifecycle check: %w", err)
	}

	n := c.counts()
	r := &lifecycleRun{m: m, c: c, cfg: cfg, base: base, report: &LifecycleReport{
		CheckedAt: c.now, DryRun: cfg.DryRun, Checked: len(c.recs), Idle: n[lifecycle.Idle],
		Unknown: n[lifecycle.Unknown]}}
	sem := make(chan struct{}, policyWorkers)
	var wg sync.WaitGroup
	for i, rec := range c.recs {
		job, ok := r.decide(ctx, rec, c.verdicts[i])
		if !ok {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r.apply(ctx, job)
		}()
	}
	wg.Wait()
	r.report.sort()

	return r.report, ctx.Err()
}

// lifecycleRun is one RunLifecycleCheck in progress. base is the check's
// policy before each sandbox's own.
type lifecycleRun struct {
	m    *Manager
	c    *cycle
	cfg  LifecycleConfig
	base lifecycle.Policy

	mu     sync.Mutex
	report *LifecycleReport
}

// policyJob is one sandbox's decision, waiting to be applied.
type policyJob struct {
	rec   store.Sandbox
	v     lifecycle.Verdict
	state lifecycle.State
	d     lifecycle.Decision
}

// decide applies the policy to one verdict. It reports false when there is
// nothing to apply; in a dry run it adds the action to the plan instead.
func (r *lifecycleRun) decide(ctx context.Context, rec store.Sandbox, v lifecycle.Verdict,
) (policyJob, bool) {
	lc := r.c.life[rec.Name]
	policy, err := sandboxPolicy(r.base, lc)
	if err != nil {
		r.fail(rec.Name, lifecycle.ActionNone, err)
		return policyJob{}, false
	}
	state := stateOf(lc)
	if state.Phase == lifecycle.PhasePaused && v.Kind == lifecycle.NotRunning {
		snap, err := r.m.latestSnapshot(ctx, rec.Name)
		if err != nil {
			r.fail(rec.Name, lifecycle.ActionDelete, err)
			return policyJob{}, false
		}
		state.HasSnapshot = snap != nil
	}
	d := lifecycle.Decide(state, v, policy, r.c.now)
	job := policyJob{rec: rec, v: v, state: state, d: d}
	if r.cfg.DryRun {
		if d.Action != lifecycle.ActionNone {
			r.add(&r.report.Plan, r.action(job, store.ActorPolicy))
		}
		return job, false
	}

	return job, d.Action != lifecycle.ActionNone || !sameState(d.Next, state)
}

// apply carries out one decision and reports it.
func (r *lifecycleRun) apply(ctx context.Context, job policyJob) {
	var (
		list  *[]LifecycleAction
		act   = r.action(job, store.ActorPolicy)
		skip  string
		err   error
		hooks func(LifecycleAction)
	)
	switch job.d.Action {
	case lifecycle.ActionNone, lifecycle.ActionWarn:
		if job.d.Action == lifecycle.ActionWarn {
			list, hooks = &r.report.Warned, r.cfg.OnWarn
		}
		err = r.m.moveLifecycle(ctx, job.rec.Name, store.ActorPolicy, job.d.Reasons,
			r.advance(job))
	case lifecycle.ActionReactivate:
		list = &r.report.Reactivated
		act.Actor = r.c.activityActor(job.rec.Name)
		err = r.m.moveLifecycle(ctx, job.rec.Name, act.Actor, job.d.Reasons, r.advance(job))
	case lifecycle.ActionPause:
		list, hooks = &r.report.Paused, r.cfg.OnPause
		act.SnapshotID, skip, err = r.pause(ctx, job)
	case lifecycle.ActionDelete:
		list, hooks = &r.report.Deleted, r.cfg.OnDelete
		skip, err = r.delete(ctx, job)
	}

	switch {
	case errors.Is(err, errStale) && list == nil:
		return
	case errors.Is(err, errStale):
		skip = "its lifecycle state changed while the check ran; it is decided again next time"
	case err != nil && ctx.Err() != nil:
		// The check was stopped; the action is decided again next time.
		return
	case err != nil:
		r.fail(job.rec.Name, job.d.Action, err)
		return
	}
	if skip != "" {
		act.Reasons = append([]string{"skipped: " + skip}, act.Reasons...)
		r.add(&r.report.Skipped, act)
		return
	}
	if list == nil {
		return
	}
	r.add(list, act)
	r.m.announce(ctx, act, job)
	if hooks != nil {
		hooks(act)
	}
}

// action describes a job as a LifecycleAction by actor.
func (r *lifecycleRun) action(job policyJob, actor string) LifecycleAction {
	from := job.state.Phase
	if from == "" {
		from = lifecycle.PhaseActive
	}

	return LifecycleAction{Sandbox: job.rec.Name, App: job.rec.App, Action: job.d.Action,
		From: from, To: job.d.Next.Phase, Actor: actor, Reasons: job.d.Reasons, At: r.c.now}
}

// advance returns the update that stores a job's next state, provided the
// stored state is still the one the job was decided on.
func (r *lifecycleRun) advance(job policyJob) func(*store.Lifecycle) error {
	return func(lc *store.Lifecycle) error {
		if !sameState(stateOf(*lc), job.state) {
			return errStale
		}
		setState(lc, job.d.Next)

		return nil
	}
}

// pause pauses an idle sandbox under its machine's lease, after judging it
// again. It returns the snapshot, or why it did not pause.
func (r *lifecycleRun) pause(ctx context.Context, job policyJob) (string, string, error) {
	m, rec := r.m, job.rec
	lease, err := m.fly.AcquireLease(ctx, rec.App, rec.MachineID, policyLeaseTTL,
		"sandstorm idle policy: pause")
	switch {
	case errors.Is(err, flyclient.ErrConflict):
		return "", "another server or client holds the machine's lease", nil
	case errors.Is(err, flyclient.ErrNotFound):
		return "", "its machine is gone", nil
	case err != nil:
		return "", "", fmt.Errorf("lease machine %s: %w", rec.MachineID, err)
	}
	paused := false
	defer func() {
		if !paused {
			m.releaseLease(rec.App, rec.MachineID, lease.Nonce)
		}
	}()

	start := m.now()
	unlock := m.lock(rec.Name)
	defer unlock()
	var skip string
	res, err := m.pause(ctx, rec.Name, pauseOptions{
		actor:   store.ActorPolicy,
		nonce:   lease.Nonce,
		reasons: job.d.Reasons,
		check: func(cur store.Sandbox) error {
			why, cerr := r.recheck(ctx, job, cur)
			if cerr == nil && why != "" {
				skip, cerr = why, errSkip
			}

			return cerr
		},
		phase: func(lc *store.Lifecycle) { setState(lc, job.d.Next) },
	})
	if errors.Is(err, errSkip) {
		return "", skip, nil
	}
	m.auditAs(store.ActorPolicy, "pause", rec.Name, map[string]any{"reasons": job.d.Reasons},
		start, err)
	if err != nil {
		return "", "", err
	}
	paused = true

	return res.Snapshot.ID, "", nil
}

// recheck judges a sandbox again just before its pause, with its current
// record, lifecycle state, tool calls, holds and sessions, and this cycle's
// network figures, and says why not to pause, if anything. With the lease
// held no exec or file call can reach the machine meanwhile.
func (r *lifecycleRun) recheck(ctx context.Context, job policyJob, cur store.Sandbox,
) (string, error) {
	m := r.m
	if cur.Status != StatusRunning || cur.MachineID != job.rec.MachineID {
		return fmt.Sprintf("it is %s on machine %q now", cur.Status, cur.MachineID), nil
	}
	lc, err := m.store.GetLifecycle(ctx, cur.Name)
	if err != nil {
		return "", fmt.Errorf("read lifecycle of %s: %w", cur.Name, err)
	}
	if !sameState(stateOf(lc), job.state) {
		return "", errStale
	}
	now := m.now()
	sig := newCycleSignals(m, map[string]store.Lifecycle{cur.Name: lc},
		[]store.Sandbox{cur}, now)
	vs, err := m.detector(r.c.metrics, sig, now).FindIdle(ctx,
		[]lifecycle.Sandbox{judged(cur)}, r.c.window, r.c.threshold)
	if err != nil {
		return "", err
	}
	if vs[0].Kind != lifecycle.Idle {
		return fmt.Sprintf("judged %s on the re-check: %s", vs[0].Kind,
			strings.Join(vs[0].Reasons, "; ")), nil
	}

	return "", nil
}

// releaseLease gives a lease back; one that has already gone is fine.
func (m *Manager) releaseLease(app, machineID, nonce string) {
	ctx, cancel := cleanupContext()
	defer cancel()
	err := m.fly.ReleaseLease(ctx, app, machineID, nonce)
	if err != nil && !errors.Is(err, flyclient.ErrNotFound) {
		m.log.Warn("release machine lease", "app", app, "machine_id", machineID, "error", err)
	}
}

// delete deletes a sandbox paused for long enough, once its snapshot is
// confirmed on Fly. It claims the sandbox by moving it to phase deleted
// first, so two servers never both delete it, and moves it back if the
// delete fails.
func (r *lifecycleRun) delete(ctx context.Context, job policyJob) (string, error) {
	m, rec := r.m, job.rec
	lc := r.c.life[rec.Name]
	if lc.Hold != nil && lc.Hold.Until.After(r.c.now) {
		return "a keep-alive hold is active until " + lc.Hold.Until.Format(time.RFC3339), nil
	}
	snap, err := m.latestSnapshot(ctx, rec.Name)
	if err != nil {
		return "", err
	}
	if snap == nil {
		return "it has no complete snapshot", nil
	}
	ok, err := m.snapshotOnFly(ctx, rec.App, snap)
	if err != nil {
		return "", err
	}
	if !ok {
		return "its snapshot " + snap.ID + " is not complete on Fly", nil
	}
	if err := m.moveLifecycle(ctx, rec.Name, store.ActorPolicy, job.d.Reasons,
		r.advance(job)); err != nil {
		return "", err
	}

	if _, err := m.deleteBy(ctx, store.ActorPolicy, rec.Name); err != nil {
		back := job
		back.state, back.d.Next = job.d.Next, job.state
		if rerr := m.moveLifecycle(ctx, rec.Name, store.ActorPolicy,
			[]string{"delete failed: " + err.Error()}, r.advance(back)); rerr != nil {
			m.log.Warn("return sandbox to paused", "sandbox", rec.Name, "error", rerr)
		}

		return "", err
	}

	return "", nil
}

// snapshotOnFly reports whether Fly lists the snapshot as created.
func (m *Manager) snapshotOnFly(ctx context.Context, app string, snap *Snapshot) (bool, error) {
	list, err := m.fly.ListSnapshots(ctx, app, snap.VolumeID)
	if errors.Is(err, flyclient.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("list snapshots of %s: %w", snap.VolumeID, err)
	}

	return slices.ContainsFunc(list, func(s flyclient.VolumeSnapshot) bool {
		return s.ID == snap.ID && s.Status == flyclient.SnapshotCreated
	}), nil
}

// announce tells listeners, and the webhook when one is set, about a policy
// action.
func (m *Manager) announce(ctx context.Context, act LifecycleAction, job policyJob) {
	m.log.Info("idle policy acted", "sandbox", act.Sandbox, "action", string(act.Action),
		"from", string(act.From), "to", string(act.To), "actor", act.Actor,
		"reason", strings.Join(act.Reasons, "; "))
	m.notify(Change{Sandbox: act.Sandbox, Kind: ChangeLifecycle, Lifecycle: &act})
	if m.cfg.Webhook == nil || act.Action == lifecycle.ActionReactivate {
		return
	}
	ev := lifecycle.NewEvent(job.v, job.state, job.d, act.At, false)
	if err := m.cfg.Webhook.Send(ctx, ev); err != nil {
		m.log.Warn("deliver lifecycle webhook", "sandbox", act.Sandbox,
			"action", string(act.Action), "error", err)
	}
}

func (r *lifecycleRun) add(list *[]LifecycleAction, a LifecycleAction) {
	r.mu.Lock()
	defer r.mu.Unlock()
	*list = append(*list, a)
}

func (r *lifecycleRun) fail(name string, a lifecycle.Action, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.report.Errors = append(r.report.Errors,
		LifecycleFailure{Sandbox: name, Action: a, Error: err.Error()})
	r.m.log.Warn("lifecycle action failed", "sandbox", name, "action", string(a),
		"error", err)
}

// sort orders every list of the report by sandbox name.
func (rep *LifecycleReport) sort() {
	byName := func(a, b LifecycleAction) int { return strings.Compare(a.Sandbox, b.Sandbox) }
	for _, l := range []*[]LifecycleAction{&rep.Warned, &rep.Paused, &rep.Deleted,
		&rep.Reactivated, &rep.Skipped, &rep.Plan} {
		if *l == nil {
			*l = []LifecycleAction{}
		}
		slices.SortFunc(*l, byName)
	}
	if rep.Errors == nil {
		rep.Errors = []LifecycleFailure{}
	}
	slices.SortFunc(rep.Errors, func(a, b LifecycleFailure) int {
		return strings.Compare(a.Sandbox, b.Sandbox)
	})
}

// activityActor names who made a sandbox active again: a user, through a
// tool call or a hold; an agent, through a running session; or the system,
// when only network traffic showed.
func (c *cycle) activityActor(name string) string {
	lc := c.life[name]
	if lc.LastUsedAt.After(c.now.Add(-c.window)) ||
		(lc.Hold != nil && lc.Hold.Until.After(c.now)) {
		return store.ActorUser
	}
	if c.signals.running[name] {
		return store.ActorAgent
	}

	return store.ActorSystem
}
