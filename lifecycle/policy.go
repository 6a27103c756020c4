package lifecycle

import (
	"errors"
	"fmt"
	"time"
)

// Phase is where a sandbox stands in the idle policy.
type Phase string

// Policy phases. The zero Phase is read as PhaseActive.
const (
	PhaseActive  Phase = "active"
	PhaseWarned  Phase = "warned"
	PhasePaused  Phase = "paused"
	PhaseDeleted Phase = "deleted"
)

// Action is what a Decision asks the caller to do.
type Action string

// Actions.
const (
	// ActionNone asks for nothing beyond storing Decision.Next.
	ActionNone Action = "none"
	// ActionWarn asks to tell the sandbox's users it will be paused.
	ActionWarn Action = "warn"
	// ActionPause asks to snapshot the volume and delete the machine.
	ActionPause Action = "pause"
	// ActionDelete asks to delete the paused sandbox for good.
	ActionDelete Action = "delete"
	// ActionReactivate reports a warned or paused sandbox back in use.
	ActionReactivate Action = "reactivate"
)

// ErrInvalidPolicy is wrapped by every error of Policy.Validate and
// Policy.Override.
var ErrInvalidPolicy = errors.New("invalid policy")

// Policy sets how long a sandbox may idle. PauseAfter is required; WarnAfter
// and DeleteAfter are off when zero. Durations count from the first cycle a
// sandbox is seen idle (warn, pause) and from its pause (delete).
type Policy struct {
	// WarnAfter is the idle time after which users are warned; it must be
	// shorter than PauseAfter. With it set, no pause comes without a warning.
	WarnAfter time.Duration
	// PauseAfter is the idle time after which the sandbox is paused.
	PauseAfter time.Duration
	// DeleteAfter is the time a paused sandbox waits before deletion.
	DeleteAfter time.Duration
}

// Validate reports, wrapping ErrInvalidPolicy, what is wrong with p.
func (p Policy) Validate() error {
	switch {
	case p.PauseAfter <= 0:
		return fmt.Errorf("%w: pause after must be positive, not %s", ErrInvalidPolicy,
			p.PauseAfter)
	case p.WarnAfter < 0 || p.DeleteAfter < 0:
		return fmt.Errorf("%w: warn after (%s) and delete after (%s) must be zero (off) "+
			"or positive", ErrInvalidPolicy, p.WarnAfter, p.DeleteAfter)
	case p.WarnAfter >= p.PauseAfter:
		return fmt.Errorf("%w: warn after (%s) must be shorter than pause after (%s)",
			ErrInvalidPolicy, p.WarnAfter, p.PauseAfter)
	}

	return nil
}

// Override returns p with the non-zero fields of o in place of its own, for a
// per-sandbox policy, and validates the result. In o a negative WarnAfter or
// DeleteAfter turns the warning or the deletion off; PauseAfter cannot be
// turned off (a keep-alive hold is the way to keep a sandbox up).
func (p Policy) Override(o Policy) (Policy, error) {
	if o.PauseAfter < 0 {
		return Policy{}, fmt.Errorf("%w: an override cannot turn pausing off "+
			"(pause after %s); use a keep-alive hold", ErrInvalidPolicy, o.PauseAfter)
	}
	merged := p
	for _, f := range []struct{ dst, src *time.Duration }{
		{&merged.WarnAfter, &o.WarnAfter},
		{&merged.PauseAfter, &o.PauseAfter},
		{&merged.DeleteAfter, &o.DeleteAfter},
	} {
		switch {
		case *f.src < 0:
			*f.dst = 0
		case *f.src > 0:
			*f.dst = *f.src
		}
	}
	if err := merged.Validate(); err != nil {
		return Policy{}, fmt.Errorf("override policy: %w", err)
	}

	return merged, nil
}

// State is what the policy remembers about one sandbox between cycles.
type State struct {
	Phase Phase `json:"phase"`
	// IdleSince is the first cycle of the current idle stretch; zero when
	// the sandbox is not idle.
	IdleSince time.Time `json:"idle_since,omitzero"`
	// WarnedAt is when the warning was sent, in phase warned.
	WarnedAt time.Time `json:"warned_at,omitzero"`
	// PausedAt is when the policy paused the sandbox, in phase paused.
	PausedAt time.Time `json:"paused_at,omitzero"`
	// HasSnapshot reports that a complete snapshot of the volume exists. The
	// caller sets it; Decide never deletes without it.
	HasSnapshot bool `json:"has_snapshot"`
}

// Decision is the outcome of one policy cycle for one sandbox: an action,
// the state to store once the action has succeeded, and why. Reasons start
// with the policy's own sentence, followed by the verdict's.
type Decision struct {
	Action  Action   `json:"action"`
	Next    State    `json:"next"`
	Reasons []string `json:"reasons"`
}

// Decide applies policy p to a sandbox in state s given this cycle's verdict
// v. It is pure. The caller performs Action and stores Next only if the
// action succeeded (for ActionNone, always), so a failed action is decided
// again next cycle. The rules:
//
//   - Unknown: nothing happens and the state is returned unchanged.
//   - Active in phase active: idle time resets. In phase warned or paused
//     (resumed outside the policy): ActionReactivate, back to active.
//   - Idle in phase active: idle time starts (IdleSince = now) or goes on.
//     At WarnAfter, ActionWarn. Without WarnAfter, at PauseAfter,
//     ActionPause.
//   - Idle in phase warned: ActionPause once idle for PauseAfter and warned
//     at least PauseAfter - WarnAfter ago (and always before now).
//   - Idle in phase paused: the machine runs again; ActionReactivate with
//     idle time starting now.
//   - NotRunning in phase paused: ActionDelete when DeleteAfter is set, the
//     pause is DeleteAfter old and HasSnapshot is true; never without a
//     snapshot. In phase active or warned (stopped outside the policy):
//     nothing to do, and idle time and any warning are cleared.
//   - Phase deleted is final. An invalid policy decides nothing.
func Decide(s State, v Verdict, p Policy, now time.Time) Decision {
	if v.Kind == Unknown {
		return decision(ActionNone, s, v, "activity unknown; nothing changes")
	}
	if err := p.Validate(); err != nil {
		return decision(ActionNone, s, v, "policy not applied: "+err.Error())
	}

	switch s.Phase {
	case PhaseActive, "":
		return decideActive(s, v, p, now)
	case PhaseWarned:
		return decideWarned(s, v, p, now)
	case PhasePaused:
		return decidePaused(s, v, p, now)
	case PhaseDeleted:
		return decision(ActionNone, s, v, "sandbox was deleted by the policy")
	default:
		return decision(ActionNone, s, v, fmt.Sprintf("unknown phase %q; nothing changes",
			s.Phase))
	}
}

// decision builds a Decision whose reasons are why, then the verdict's.
func decision(a Action, next State, v Verdict, why string) Decision {
	reasons := make([]string, 0, 1+len(v.Reasons))
	reasons = append(reasons, why)

	return Decision{Action: a, Next: next, Reasons: append(reasons, v.Reasons...)}
}

// fresh is the state of an active sandbox that is not idle.
func fresh(s State) State {
	return State{Phase: PhaseActive, HasSnapshot: s.HasSnapshot}
}

func decideActive(s State, v Verdict, p Policy, now time.Time) Decision {
	switch v.Kind {
	case Active:
		return decision(ActionNone, fresh(s), v, "in use; idle time reset")
	case NotRunning:
		return decision(ActionNone, fresh(s), v, "not running; nothing to pause")
	case Idle:
	default:
		return decision(ActionNone, s, v, fmt.Sprintf("unknown verdict %q; nothing changes",
			v.Kind))
	}

	next := fresh(s)
	next.IdleSince = s.IdleSince
	if next.IdleSince.IsZero() || next.IdleSince.After(now) {
		next.IdleSince = now
	}
	idle := now.Sub(next.IdleSince)
	switch {
	case p.WarnAfter > 0 && idle >= p.WarnAfter:
		next.Phase, next.WarnedAt = PhaseWarned, now

		return decision(ActionWarn, next, v, fmt.Sprintf("idle for %s, warn after %s: "+
			"warning; pause after %s", humanDuration(idle), humanDuration(p.WarnAfter),
			humanDuration(p.PauseAfter)))
	case p.WarnAfter == 0 && idle >= p.PauseAfter:
		next.Phase, next.PausedAt = PhasePaused, now

		return decision(ActionPause, next, v, fmt.Sprintf("idle for %s, pause after %s: "+
			"pausing", humanDuration(idle), humanDuration(p.PauseAfter)))
	}
	due := p.PauseAfter
	if p.WarnAfter > 0 {
		due = p.WarnAfter
	}

	return decision(ActionNone, next, v, fmt.Sprintf("idle for %s; next step after %s",
		humanDuration(idle), humanDuration(due)))
}

func decideWarned(s State, v Verdict, p Policy, now time.Time) Decision {
	switch v.Kind {
	case Active:
		return decision(ActionReactivate, fresh(s), v, "in use again after the warning; "+
			"back to active")
	case NotRunning:
		return decision(ActionNone, fresh(s), v, "stopped outside the policy after the "+
			"warning; warning withdrawn")
	case Idle:
	default:
		return decision(ActionNone, s, v, fmt.Sprintf("unknown verdict %q; nothing changes",
			v.Kind))
	}

	next := s
	if next.WarnedAt.IsZero() || next.WarnedAt.After(now) {
		next.WarnedAt = now
		if next.IdleSince.IsZero() || next.IdleSince.After(now) {
			next.IdleSince = now
		}

		return decision(ActionNone, next, v, "warning time unknown; counting the grace "+
			"from now")
	}
	if next.IdleSince.IsZero() || next.IdleSince.After(next.WarnedAt) {
		next.IdleSince = next.WarnedAt
	}
	idle, sinceWarn := now.Sub(next.IdleSince), now.Sub(next.WarnedAt)
	grace := time.Duration(0) // a policy changed since the warning may have none
	if p.WarnAfter > 0 {
		grace = p.PauseAfter - p.WarnAfter
	}
	if idle >= p.PauseAfter && sinceWarn >= grace && sinceWarn > 0 {
		next.Phase, next.PausedAt = PhasePaused, now

		return decision(ActionPause, next, v, fmt.Sprintf("idle for %s, warned %s ago, "+
			"pause after %s: pausing", humanDuration(idle), humanDuration(sinceWarn),
			humanDuration(p.PauseAfter)))
	}

	return decision(ActionNone, next, v, fmt.Sprintf("idle for %s, warned %s ago; "+
		"pause after %s idle and %s since the warning", humanDuration(idle),
		humanDuration(sinceWarn), humanDuration(p.PauseAfter), humanDuration(grace)))
}

func decidePaused(s State, v Verdict, p Policy, now time.Time) Decision {
	switch v.Kind {
	case Active:
		return decision(ActionReactivate, fresh(s), v, "running again after the pause; "+
			"back to active")
	case Idle:
		next := fresh(s)
		next.IdleSince = now

		return decision(ActionReactivate, next, v, "running again after the pause but "+
			"idle; back to active, idle time starts now")
	case NotRunning:
	default:
		return decision(ActionNone, s, v, fmt.Sprintf("unknown verdict %q; nothing changes",
			v.Kind))
	}

	if p.DeleteAfter == 0 {
		return decision(ActionNone, s, v, "paused; deletion is off")
	}
	if s.PausedAt.IsZero() || s.PausedAt.After(now) {
		next := s
		next.PausedAt = now

		return decision(ActionNone, next, v, "pause time unknown; counting from now")
	}
	age := now.Sub(s.PausedAt)
	switch {
	case age < p.DeleteAfter:
		return decision(ActionNone, s, v, fmt.Sprintf("paused for %s; delete after %s",
			humanDuration(age), humanDuration(p.DeleteAfter)))
	case !s.HasSnapshot:
		return decision(ActionNone, s, v, fmt.Sprintf("paused for %s, past delete after "+
			"%s, but no snapshot exists; never deleted without one", humanDuration(age),
			humanDuration(p.DeleteAfter)))
	}
	next := s
	next.Phase = PhaseDeleted

	return decision(ActionDelete, next, v, fmt.Sprintf("paused for %s, delete after %s, "+
		"snapshot kept: deleting", humanDuration(age), humanDuration(p.DeleteAfter)))
}
