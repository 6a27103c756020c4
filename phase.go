package sandstorm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/longrun/sandstorm/lifecycle"
	"github.com/longrun/sandstorm/store"
)

// LifecycleStatus is where a sandbox stands in the idle policy, as Get
// reports it: its phase, the policy that applies, its keep-alive hold and
// its latest transitions, newest first.
type LifecycleStatus struct {
	Phase       string       `json:"phase"`
	Policy      IdlePolicy   `json:"policy"`
	IdleSince   time.Time    `json:"idle_since,omitzero"`
	WarnedAt    time.Time    `json:"warned_at,omitzero"`
	PausedAt    time.Time    `json:"paused_at,omitzero"`
	LastUsedAt  time.Time    `json:"last_used_at,omitzero"`
	Hold        *Hold        `json:"hold,omitempty"`
	Transitions []Transition `json:"transitions"`
}

// Hold is a keep-alive hold: the sandbox counts as active until Until.
type Hold struct {
	Until  time.Time `json:"until"`
	Reason string    `json:"reason,omitempty"`
	Actor  string    `json:"actor"`
	SetAt  time.Time `json:"set_at"`
	Active bool      `json:"active"`
}

// Transition is one change of a sandbox's lifecycle phase: who made it, and
// why.
type Transition struct {
	From    string    `json:"from"`
	To      string    `json:"to"`
	Actor   string    `json:"actor"`
	Reasons []string  `json:"reasons"`
	At      time.Time `json:"at"`
}

// Keep-alive bounds.
const (
	// MaxKeepAliveMinutes is the longest hold: a week.
	MaxKeepAliveMinutes = 7 * 24 * 60
	maxHoldReason       = 500
	// reportedTransitions is how many transitions Get shows.
	reportedTransitions = 10
)

// errStale reports that a sandbox's lifecycle state changed after it was
// read, so a decision made on it no longer holds.
var errStale = errors.New("lifecycle state changed")

// KeepAlive places a hold that keeps the sandbox active, whatever its
// activity, for minutes from now; zero minutes removes the hold. A hold also
// keeps a paused sandbox from being deleted by the policy.
func (m *Manager) KeepAlive(ctx context.Context, name string, minutes int, reason string,
) (st *LifecycleStatus, err error) {
	start := m.now()
	defer func() {
		m.audit("keepalive", name, map[string]any{"minutes": minutes}, start, err)
	}()
	if minutes < 0 || minutes > MaxKeepAliveMinutes {
		return nil, invalidf(fmt.Sprintf("Give minutes from 1 to %d, or 0 to end the hold.",
			MaxKeepAliveMinutes), "keep-alive of %d minutes is out of range", minutes)
	}
	if utf8.RuneCountInString(reason) > maxHoldReason {
		return nil, invalidf(fmt.Sprintf("Say why in at most %d characters.", maxHoldReason),
			"keep-alive reason is too long")
	}
	if _, err := m.record(ctx, name); err != nil {
		return nil, err
	}

	_, err = m.store.UpdateLifecycle(ctx, name, func(lc *store.Lifecycle) error {
		lc.Hold = nil
		if minutes > 0 {
			lc.Hold = &store.Hold{Until: start.Add(time.Duration(minutes) * time.Minute),
				Reason: reason, Actor: store.ActorUser, SetAt: start}
		}

		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound(name)
	}
	if err != nil {
		return nil, fmt.Errorf("hold sandbox %s: %w", name, err)
	}
	m.notify(Change{Sandbox: name, Kind: ChangeStatus})

	return m.lifecycleStatus(ctx, name)
}

// lifecycleStatus reports a sandbox's lifecycle state.
func (m *Manager) lifecycleStatus(ctx context.Context, name string) (*LifecycleStatus, error) {
	lc, err := m.store.GetLifecycle(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound(name)
	}
	if err != nil {
		return nil, fmt.Errorf("read lifecycle of %s: %w", name, err)
	}
	ts, err := m.store.Transitions(ctx, name, reportedTransitions)
	if err != nil {
		return nil, fmt.Errorf("read transitions of %s: %w", name, err)
	}
	policy, err := sandboxPolicy(m.cfg.IdlePolicy, lc)
	if err != nil {
		return nil, err
	}

	st := &LifecycleStatus{Phase: lc.Phase, Policy: idlePolicyOf(policy),
		IdleSince: lc.IdleSince, WarnedAt: lc.WarnedAt, PausedAt: lc.PausedAt,
		LastUsedAt: lc.LastUsedAt, Transitions: make([]Transition, len(ts))}
	if h := lc.Hold; h != nil {
		st.Hold = &Hold{Until: h.Until, Reason: h.Reason, Actor: h.Actor, SetAt: h.SetAt,
			Active: h.Until.After(m.now())}
	}
	for i, t := range ts {
		st.Transitions[i] = Transition{From: t.From, To: t.To, Actor: t.Actor,
			Reasons: t.Reasons, At: t.At}
	}

	return st, nil
}

// moveLifecycle applies fn to the sandbox's lifecycle state in one
// transaction and, when the phase changed, records the transition by actor
// with reasons. fn may return errStale, or any error, to change nothing.
func (m *Manager) moveLifecycle(ctx context.Context, name, actor string, reasons []string,
	fn func(*store.Lifecycle) error,
) error {
	var from string
	lc, err := m.store.UpdateLifecycle(ctx, name, func(lc *store.Lifecycle) error {
		from = lc.Phase
		return fn(lc)
	})
	if errors.Is(err, errStale) {
		return errStale
	}
	if err != nil {
		return fmt.Errorf("update lifecycle of %s: %w", name, err)
	}
	if lc.Phase == from {
		return nil
	}
	err = m.store.RecordTransition(ctx, store.Transition{Sandbox: name, From: from,
		To: lc.Phase, Actor: actor, Reasons: reasons, At: m.now()})
	if err != nil {
		return fmt.Errorf("record transition of %s: %w", name, err)
	}

	return nil
}

// enterPhase moves a sandbox to phase at a user's request, recording why;
// a failure is logged, since the operation itself has succeeded.
func (m *Manager) enterPhase(ctx context.Context, name, phase, reason string) {
	err := m.moveLifecycle(ctx, name, store.ActorUser, []string{reason},
		func(lc *store.Lifecycle) error {
			resetPhase(lc, phase, m.now())
			return nil
		})
	if err != nil {
		m.log.Warn("record lifecycle phase", "sandbox", name, "phase", phase, "error", err)
	}
}

// resetPhase puts lc in phase with its idle time and warning cleared, and the
// pause time set for phase paused.
func resetPhase(lc *store.Lifecycle, phase string, now time.Time) {
	lc.Phase, lc.IdleSince, lc.WarnedAt, lc.PausedAt = phase, time.Time{}, time.Time{},
		time.Time{}
	if phase == store.PhasePaused {
		lc.PausedAt = now
	}
}

// setIdlePolicy stores a sandbox's own idle policy.
func (m *Manager) setIdlePolicy(ctx context.Context, name string, p IdlePolicy) error {
	raw, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode idle policy: %w", err)
	}
	_, err = m.store.UpdateLifecycle(ctx, name, func(lc *store.Lifecycle) error {
		lc.Policy = raw
		return nil
	})
	if err != nil {
		return fmt.Errorf("store idle policy of %s: %w", name, err)
	}

	return nil
}

// stateOf is the policy's view of a stored lifecycle.
func stateOf(lc store.Lifecycle) lifecycle.State {
	phase := lifecycle.Phase(lc.Phase)
	if phase == "" {
		phase = lifecycle.PhaseActive
	}

	return lifecycle.State{Phase: phase, IdleSince: lc.IdleSince, WarnedAt: lc.WarnedAt,
		PausedAt: lc.PausedAt}
}

// setState stores the policy's next state in lc.
func setState(lc *store.Lifecycle, s lifecycle.State) {
	lc.Phase, lc.IdleSince, lc.WarnedAt, lc.PausedAt = string(s.Phase), s.IdleSince,
		s.WarnedAt, s.PausedAt
}

// sameState reports whether two states agree on everything stored.
func sameState(a, b lifecycle.State) bool {
	return a.Phase == b.Phase && a.IdleSince.Equal(b.IdleSince) &&
		a.WarnedAt.Equal(b.WarnedAt) && a.PausedAt.Equal(b.PausedAt)
}
