package lifecycle_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/longrun/sandstorm/lifecycle"
)

const (
	minute = time.Minute
	day    = 24 * time.Hour
)

// verdict returns a verdict of kind with one reason of its own.
func verdict(kind lifecycle.Kind) lifecycle.Verdict {
	return lifecycle.Verdict{Sandbox: "s", App: "sb-s", Kind: kind,
		Reasons: []string{"verdict reason"}}
}

func TestDecide(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	warnPolicy := lifecycle.Policy{WarnAfter: 50 * minute, PauseAfter: 60 * minute,
		DeleteAfter: 7 * day}
	noWarn := lifecycle.Policy{PauseAfter: 60 * minute}
	const (
		active  = lifecycle.PhaseActive
		warned  = lifecycle.PhaseWarned
		paused  = lifecycle.PhasePaused
		deleted = lifecycle.PhaseDeleted
	)
	idleFrom0 := lifecycle.State{Phase: active, IdleSince: t0}
	warnedAt50 := lifecycle.State{Phase: warned, IdleSince: t0, WarnedAt: at(50 * minute)}
	pausedAt0 := lifecycle.State{Phase: paused, PausedAt: t0, HasSnapshot: true}

	tests := []struct {
		name   string
		policy lifecycle.Policy
		state  lifecycle.State
		kind   lifecycle.Kind
		now    time.Duration // after t0
		action lifecycle.Action
		next   lifecycle.State
		reason string // in the policy's own reason
	}{
		{
			name: "first idle cycle starts the clock", policy: warnPolicy,
			state: lifecycle.State{Phase: active}, kind: lifecycle.Idle, now: 0,
			action: lifecycle.ActionNone, next: idleFrom0, reason: "idle for 0s",
		},
		{
			name: "zero phase reads as active", policy: warnPolicy,
			state: lifecycle.State{}, kind: lifecycle.Idle, now: 0,
			action: lifecycle.ActionNone, next: idleFrom0,
		},
		{
			name: "idle below warn after", policy: warnPolicy,
			state: idleFrom0, kind: lifecycle.Idle, now: 49 * minute,
			action: lifecycle.ActionNone, next: idleFrom0, reason: "next step after 50m",
		},
		{
			name: "warn at warn after", policy: warnPolicy,
			state: idleFrom0, kind: lifecycle.Idle, now: 50 * minute,
			action: lifecycle.ActionWarn, next: warnedAt50, reason: "warning",
		},
		{
			name: "idle past pause after but never warned: warn, not pause", policy: warnPolicy,
			state: idleFrom0, kind: lifecycle.Idle, now: 5 * time.Hour,
			action: lifecycle.ActionWarn,
			next:   lifecycle.State{Phase: warned, IdleSince: t0, WarnedAt: at(5 * time.Hour)},
		},
		{
			name: "warned, not yet pause after", policy: warnPolicy,
			state: warnedAt50, kind: lifecycle.Idle, now: 59 * minute,
			action: lifecycle.ActionNone, next: warnedAt50,
		},
		{
			name: "warned, pause at pause after", policy: warnPolicy,
			state: warnedAt50, kind: lifecycle.Idle, now: 60 * minute,
			action: lifecycle.ActionPause,
			next: lifecycle.State{Phase: paused, IdleSince: t0, WarnedAt: at(50 * minute),
				PausedAt: at(60 * minute)},
			reason: "pausing",
		},
		{
			name: "late warning: pause waits the grace after it", policy: warnPolicy,
			state: lifecycle.State{Phase: warned, IdleSince: t0, WarnedAt: at(5 * time.Hour)},
			kind:  lifecycle.Idle, now: 5*time.Hour + 9*minute,
			action: lifecycle.ActionNone,
			next:   lifecycle.State{Phase: warned, IdleSince: t0, WarnedAt: at(5 * time.Hour)},
			reason: "10m since the warning",
		},
		{
			name: "late warning: pause once the grace has passed", policy: warnPolicy,
			state: lifecycle.State{Phase: warned, IdleSince: t0, WarnedAt: at(5 * time.Hour)},
			kind:  lifecycle.Idle, now: 5*time.Hour + 10*minute,
			action: lifecycle.ActionPause,
			next: lifecycle.State{Phase: paused, IdleSince: t0, WarnedAt: at(5 * time.Hour),
				PausedAt: at(5*time.Hour + 10*minute)},
		},
		{
			name: "activity after the warning reactivates", policy: warnPolicy,
			state: warnedAt50, kind: lifecycle.Active, now: 55 * minute,
			action: lifecycle.ActionReactivate, next: lifecycle.State{Phase: active},
			reason: "back to active",
		},
		{
			name: "activity resets idle time", policy: warnPolicy,
			state: idleFrom0, kind: lifecycle.Active, now: 49 * minute,
			action: lifecycle.ActionNone, next: lifecycle.State{Phase: active},
			reason: "idle time reset",
		},
		{
			name: "no warn after: pause at pause after", policy: noWarn,
			state: idleFrom0, kind: lifecycle.Idle, now: 60 * minute,
			action: lifecycle.ActionPause,
			next:   lifecycle.State{Phase: paused, IdleSince: t0, PausedAt: at(60 * minute)},
		},
		{
			name: "no warn after: nothing before pause after", policy: noWarn,
			state: idleFrom0, kind: lifecycle.Idle, now: 59 * minute,
			action: lifecycle.ActionNone, next: idleFrom0, reason: "next step after 1h",
		},
		{
			name: "no warn after: first idle cycle never pauses", policy: noWarn,
			state: lifecycle.State{Phase: active}, kind: lifecycle.Idle, now: 0,
			action: lifecycle.ActionNone, next: idleFrom0,
		},
		{
			name: "warned under a policy that no longer warns: pause", policy: noWarn,
			state: warnedAt50, kind: lifecycle.Idle, now: 60 * minute,
			action: lifecycle.ActionPause,
			next: lifecycle.State{Phase: paused, IdleSince: t0, WarnedAt: at(50 * minute),
				PausedAt: at(60 * minute)},
		},
		{
			name: "warned with no warning time: grace counts from now", policy: warnPolicy,
			state: lifecycle.State{Phase: warned, IdleSince: t0}, kind: lifecycle.Idle,
			now: 3 * time.Hour, action: lifecycle.ActionNone,
			next: lifecycle.State{Phase: warned, IdleSince: t0, WarnedAt: at(3 * time.Hour)},
		},
		{
			name: "unknown while idle changes nothing", policy: warnPolicy,
			state: idleFrom0, kind: lifecycle.Unknown, now: 5 * time.Hour,
			action: lifecycle.ActionNone, next: idleFrom0, reason: "activity unknown",
		},
		{
			name: "unknown while warned changes nothing", policy: warnPolicy,
			state: warnedAt50, kind: lifecycle.Unknown, now: 5 * time.Hour,
			action: lifecycle.ActionNone, next: warnedAt50,
		},
		{
			name: "unknown while paused changes nothing", policy: warnPolicy,
			state: pausedAt0, kind: lifecycle.Unknown, now: 30 * day,
			action: lifecycle.ActionNone, next: pausedAt0,
		},
		{
			name: "unknown with an invalid policy changes nothing", policy: lifecycle.Policy{},
			state: lifecycle.State{}, kind: lifecycle.Unknown, now: 0,
			action: lifecycle.ActionNone, next: lifecycle.State{},
		},
		{
			name: "delete after delete after, with a snapshot", policy: warnPolicy,
			state: pausedAt0, kind: lifecycle.NotRunning, now: 7 * day,
			action: lifecycle.ActionDelete,
			next:   lifecycle.State{Phase: deleted, PausedAt: t0, HasSnapshot: true},
			reason: "deleting",
		},
		{
			name: "paused, not yet delete after", policy: warnPolicy,
			state: pausedAt0, kind: lifecycle.NotRunning, now: 7*day - minute,
			action: lifecycle.ActionNone, next: pausedAt0, reason: "delete after 7d",
		},
		{
			name: "never delete without a snapshot", policy: warnPolicy,
			state: lifecycle.State{Phase: paused, PausedAt: t0}, kind: lifecycle.NotRunning,
			now: 365 * day, action: lifecycle.ActionNone,
			next: lifecycle.State{Phase: paused, PausedAt: t0}, reason: "no snapshot exists",
		},
		{
			name: "deletion off", policy: noWarn,
			state: pausedAt0, kind: lifecycle.NotRunning, now: 365 * day,
			action: lifecycle.ActionNone, next: pausedAt0, reason: "deletion is off",
		},
		{
			name: "paused with no pause time: age counts from now", policy: warnPolicy,
			state: lifecycle.State{Phase: paused, HasSnapshot: true}, kind: lifecycle.NotRunning,
			now: 30 * day, action: lifecycle.ActionNone,
			next: lifecycle.State{Phase: paused, PausedAt: at(30 * day), HasSnapshot: true},
		},
		{
			name: "paused but running and active again", policy: warnPolicy,
			state: pausedAt0, kind: lifecycle.Active, now: day,
			action: lifecycle.ActionReactivate,
			next:   lifecycle.State{Phase: active, HasSnapshot: true},
		},
		{
			name: "paused but running again, idle", policy: warnPolicy,
			state: pausedAt0, kind: lifecycle.Idle, now: day,
			action: lifecycle.ActionReactivate,
			next:   lifecycle.State{Phase: active, IdleSince: at(day), HasSnapshot: true},
		},
		{
			name: "not running while active clears idle time", policy: warnPolicy,
			state: idleFrom0, kind: lifecycle.NotRunning, now: 2 * time.Hour,
			action: lifecycle.ActionNone, next: lifecycle.State{Phase: active},
		},
		{
			name: "not running after the warning withdraws it", policy: warnPolicy,
			state: warnedAt50, kind: lifecycle.NotRunning, now: 55 * minute,
			action: lifecycle.ActionNone, next: lifecycle.State{Phase: active},
			reason: "warning withdrawn",
		},
		{
			name: "deleted is final", policy: warnPolicy,
			state: lifecycle.State{Phase: deleted}, kind: lifecycle.Idle, now: day,
			action: lifecycle.ActionNone, next: lifecycle.State{Phase: deleted},
		},
		{
			name: "invalid policy decides nothing", policy: lifecycle.Policy{WarnAfter: minute},
			state: idleFrom0, kind: lifecycle.Idle, now: 5 * time.Hour,
			action: lifecycle.ActionNone, next: idleFrom0, reason: "policy not applied",
		},
		{
			name: "unknown phase decides nothing", policy: warnPolicy,
			state: lifecycle.State{Phase: "frozen"}, kind: lifecycle.Idle, now: day,
			action: lifecycle.ActionNone, next: lifecycle.State{Phase: "frozen"},
		},
		{
			name: "unknown verdict kind decides nothing", policy: warnPolicy,
			state: idleFrom0, kind: "weird", now: 5 * time.Hour,
			action: lifecycle.ActionNone, next: idleFrom0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := verdict(tt.kind)
			d := lifecycle.Decide(tt.state, v, tt.policy, at(tt.now))
			if d.Action != tt.action {
				t.Errorf("action %s, want %s; reasons %q", d.Action, tt.action, d.Reasons)
			}
			if d.Next != tt.next {
				t.Errorf("next state\n got %+v\nwant %+v", d.Next, tt.next)
			}
			if len(d.Reasons) != 2 || d.Reasons[1] != "verdict reason" {
				t.Errorf("reasons %q, want the policy's then the verdict's", d.Reasons)
			}
			if len(d.Reasons) > 0 && !strings.Contains(d.Reasons[0], tt.reason) {
				t.Errorf("policy reason %q, want it to mention %q", d.Reasons[0], tt.reason)
			}
		})
	}
}

// TestDecide_Properties drives random policies through random verdict
// sequences and checks the promises that protect users.
func TestDecide_Properties(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	kinds := []lifecycle.Kind{lifecycle.Idle, lifecycle.Idle, lifecycle.Idle,
		lifecycle.Active, lifecycle.Unknown, lifecycle.NotRunning}
	durations := []time.Duration{0, minute, 10 * minute, 45 * minute, time.Hour,
		2 * time.Hour, day}

	actions := map[lifecycle.Action]int{}
	for run := range 3000 {
		p := lifecycle.Policy{
			WarnAfter:   durations[rng.IntN(len(durations))],
			PauseAfter:  durations[1+rng.IntN(len(durations)-1)],
			DeleteAfter: durations[rng.IntN(len(durations))],
		}
		if p.Validate() != nil {
			p.WarnAfter = 0
		}
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		s := lifecycle.State{HasSnapshot: rng.IntN(2) == 0}
		var lastWarn time.Time // when the latest warn action was decided
		for step := range 60 {
			now = now.Add(time.Duration(1+rng.IntN(30)) * minute)
			if rng.IntN(10) == 0 {
				s.HasSnapshot = !s.HasSnapshot
			}
			v := verdict(kinds[rng.IntN(len(kinds))])
			if s.Phase == lifecycle.PhasePaused && rng.IntN(4) > 0 {
				v = verdict(lifecycle.NotRunning) // paused machines mostly stay down
			}
			d := lifecycle.Decide(s, v, p, now)
			actions[d.Action]++
			where := func() string {
				return fmt.Sprintf("run %d step %d: policy %+v, state %+v, verdict %s",
					run, step, p, s, v.Kind)
			}

			switch d.Action {
			case lifecycle.ActionPause:
				if v.Kind != lifecycle.Idle {
					t.Fatalf("%s: paused a sandbox that is not idle", where())
				}
				if p.WarnAfter > 0 && (lastWarn.IsZero() || !lastWarn.Before(now) ||
					now.Sub(lastWarn) < p.PauseAfter-p.WarnAfter) {
					t.Fatalf("%s: paused without a warning a full grace earlier (warned %v)",
						where(), lastWarn)
				}
				if now.Sub(d.Next.IdleSince) < p.PauseAfter {
					t.Fatalf("%s: paused before pause after", where())
				}
			case lifecycle.ActionDelete:
				if !s.HasSnapshot || v.Kind != lifecycle.NotRunning ||
					s.Phase != lifecycle.PhasePaused || p.DeleteAfter == 0 ||
					now.Sub(s.PausedAt) < p.DeleteAfter {
					t.Fatalf("%s: deleted against the rules", where())
				}
			case lifecycle.ActionWarn:
				lastWarn = now
			}
			if v.Kind == lifecycle.Unknown && (d.Action != lifecycle.ActionNone || d.Next != s) {
				t.Fatalf("%s: unknown verdict changed something: %+v", where(), d)
			}
			if d.Next.Phase == lifecycle.PhasePaused && s.Phase != lifecycle.PhasePaused &&
				d.Action != lifecycle.ActionPause {
				t.Fatalf("%s: entered paused without a pause action", where())
			}
			if d.Next.Phase == lifecycle.PhaseDeleted && s.Phase != lifecycle.PhaseDeleted &&
				d.Action != lifecycle.ActionDelete {
				t.Fatalf("%s: entered deleted without a delete action", where())
			}
			if d.Next.HasSnapshot != s.HasSnapshot {
				t.Fatalf("%s: Decide changed HasSnapshot", where())
			}
			if d.Next.Phase != lifecycle.PhaseWarned {
				lastWarn = time.Time{}
			}
			s = d.Next
		}
	}
	for _, a := range []lifecycle.Action{lifecycle.ActionWarn, lifecycle.ActionPause,
		lifecycle.ActionDelete, lifecycle.ActionReactivate} {
		if actions[a] == 0 {
			t.Errorf("the random runs never produced %s; the test explores too little", a)
		}
	}
}

func TestPolicy_Validate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		policy lifecycle.Policy
		want   string // empty: valid
	}{
		{"pause only", lifecycle.Policy{PauseAfter: time.Hour}, ""},
		{"all set", lifecycle.Policy{WarnAfter: 50 * minute, PauseAfter: time.Hour,
			DeleteAfter: 7 * day}, ""},
		{"no pause", lifecycle.Policy{WarnAfter: minute}, "pause after must be positive"},
		{"negative pause", lifecycle.Policy{PauseAfter: -time.Hour}, "must be positive"},
		{"warn equals pause", lifecycle.Policy{WarnAfter: time.Hour, PauseAfter: time.Hour},
			"warn after (1h0m0s) must be shorter than pause after (1h0m0s)"},
		{"warn after pause", lifecycle.Policy{WarnAfter: 2 * time.Hour, PauseAfter: time.Hour},
			"must be shorter"},
		{"negative delete", lifecycle.Policy{PauseAfter: time.Hour, DeleteAfter: -1},
			"zero (off) or positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.policy.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate: %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate: %v, want an error saying %q", err, tt.want)
			case err != nil && !errors.Is(err, lifecycle.ErrInvalidPolicy):
				t.Errorf("Validate: %v does not wrap ErrInvalidPolicy", err)
			}
		})
	}
}

func TestPolicy_Override(t *testing.T) {
	t.Parallel()
	base := lifecycle.Policy{WarnAfter: 50 * minute, PauseAfter: time.Hour, DeleteAfter: 7 * day}
	tests := []struct {
		name     string
		base     lifecycle.Policy
		override lifecycle.Policy
		want     lifecycle.Policy
		err      string
	}{
		{name: "empty override keeps the base", base: base, want: base},
		{
			name: "non-zero fields win", base: base,
			override: lifecycle.Policy{PauseAfter: 4 * time.Hour, DeleteAfter: day},
			want: lifecycle.Policy{WarnAfter: 50 * minute, PauseAfter: 4 * time.Hour,
				DeleteAfter: day},
		},
		{
			name: "negative turns warning and deletion off", base: base,
			override: lifecycle.Policy{WarnAfter: -1, DeleteAfter: -1},
			want:     lifecycle.Policy{PauseAfter: time.Hour},
		},
		{
			name: "shorter pause than the base warning is refused", base: base,
			override: lifecycle.Policy{PauseAfter: 30 * minute},
			err:      "warn after (50m0s) must be shorter than pause after (30m0s)",
		},
		{
			name: "pausing cannot be turned off", base: base,
			override: lifecycle.Policy{PauseAfter: -1}, err: "cannot turn pausing off",
		},
		{
			name: "override completes an invalid base", base: lifecycle.Policy{},
			override: lifecycle.Policy{PauseAfter: time.Hour},
			want:     lifecycle.Policy{PauseAfter: time.Hour},
		},
		{
			name: "invalid base stays invalid", base: lifecycle.Policy{},
			override: lifecycle.Policy{DeleteAfter: day}, err: "pause after must be positive",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.base.Override(tt.override)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) ||
					!errors.Is(err, lifecycle.ErrInvalidPolicy) {
					t.Errorf("Override: %v, want an ErrInvalidPolicy saying %q", err, tt.err)
				}

				return
			}
			if err != nil || got != tt.want {
				t.Errorf("Override = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestDecide_ReasonsKeepVerdictOrder(t *testing.T) {
	t.Parallel()
	v := lifecycle.Verdict{Kind: lifecycle.Idle, Reasons: []string{"a", "b", "c"}}
	d := lifecycle.Decide(lifecycle.State{}, v, lifecycle.Policy{PauseAfter: time.Hour},
		time.Now())
	if !slices.Equal(d.Reasons[1:], v.Reasons) {
		t.Errorf("reasons %q, want the verdict's %q after the policy's", d.Reasons, v.Reasons)
	}
	d.Reasons[1] = "changed"
	if v.Reasons[0] != "a" {
		t.Errorf("Decide's reasons share the verdict's backing array")
	}
}
