package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fullLifecycle is a record with every field set, its times outside UTC.
func fullLifecycle(sandbox string) Lifecycle {
	zone := time.FixedZone("UTC+2", 2*60*60)

	return Lifecycle{
		Sandbox:    sandbox,
		Phase:      PhaseWarned,
		IdleSince:  t0.Add(time.Minute).In(zone),
		WarnedAt:   t0.Add(2 * time.Minute).In(zone),
		PausedAt:   t0.Add(3 * time.Minute).In(zone),
		LastUsedAt: t0.In(zone),
		Hold: &Hold{
			Until:  t0.Add(24 * time.Hour).In(zone),
			Reason: "long build",
			Actor:  ActorUser,
			SetAt:  t0.Add(4 * time.Minute).In(zone),
		},
		Policy: json.RawMessage(`{"idle_after":"2h","warn":true}`),
	}
}

// setLifecycle returns an UpdateLifecycle fn that replaces the record with lc.
func setLifecycle(lc Lifecycle) func(*Lifecycle) error {
	return func(got *Lifecycle) error {
		*got = lc

		return nil
	}
}

func mustUpdateLifecycle(
	t *testing.T,
	st Store,
	sandbox string,
	fn func(*Lifecycle) error,
) Lifecycle {
	t.Helper()
	lc, err := st.UpdateLifecycle(t.Context(), sandbox, fn)
	if err != nil {
		t.Fatalf("UpdateLifecycle(%s): %v", sandbox, err)
	}

	return lc
}

func mustGetLifecycle(t *testing.T, st Store, sandbox string) Lifecycle {
	t.Helper()
	lc, err := st.GetLifecycle(t.Context(), sandbox)
	if err != nil {
		t.Fatalf("GetLifecycle(%s): %v", sandbox, err)
	}

	return lc
}

// timeField is one time of a record under comparison.
type timeField struct {
	name      string
	got, want time.Time
}

// checkLifecycle fails unless got equals want field by field, comparing times with Equal
// (and requiring UTC) and the policy as JSON.
func checkLifecycle(t *testing.T, got, want Lifecycle) {
	t.Helper()
	if got.Sandbox != want.Sandbox || got.Phase != want.Phase {
		t.Errorf("lifecycle = %s in %q, want %s in %q",
			got.Sandbox, got.Phase, want.Sandbox, want.Phase)
	}
	if !sameJSON(got.Policy, want.Policy) {
		t.Errorf("policy = %s, want %s", got.Policy, want.Policy)
	}
	times := []timeField{
		{"IdleSince", got.IdleSince, want.IdleSince},
		{"WarnedAt", got.WarnedAt, want.WarnedAt},
		{"PausedAt", got.PausedAt, want.PausedAt},
		{"LastUsedAt", got.LastUsedAt, want.LastUsedAt},
		{"UpdatedAt", got.UpdatedAt, want.UpdatedAt},
	}

	switch {
	case (got.Hold == nil) != (want.Hold == nil):
		t.Errorf("hold = %+v, want %+v", got.Hold, want.Hold)
	case got.Hold != nil:
		if got.Hold.Reason != want.Hold.Reason || got.Hold.Actor != want.Hold.Actor {
			t.Errorf("hold = %+v, want %+v", *got.Hold, *want.Hold)
		}
		times = append(times,
			timeField{"Hold.Until", got.Hold.Until, want.Hold.Until},
			timeField{"Hold.SetAt", got.Hold.SetAt, want.Hold.SetAt},
		)
	}
	for _, f := range times {
		if !f.got.Equal(f.want) || f.got.Location() != time.UTC {
			t.Errorf("%s = %s, want %s in UTC", f.name, f.got, f.want)
		}
	}
}

func testGetLifecycle(t *testing.T, st Store) {
	ctx := t.Context()
	mustCreate(t, st, newSandbox("sb-a"))

	checkLifecycle(t, mustGetLifecycle(t, st, "sb-a"), Lifecycle{Sandbox: "sb-a",
		Phase: PhaseActive})

	if _, err := st.GetLifecycle(ctx, "sb-none"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetLifecycle(unknown) = %v, want ErrNotFound", err)
	}
	called := false
	_, err := st.UpdateLifecycle(ctx, "sb-none", func(*Lifecycle) error {
		called = true

		return nil
	})
	if !errors.Is(err, ErrNotFound) || called {
		t.Errorf("UpdateLifecycle(unknown) = %v, fn called %t; want ErrNotFound, false",
			err, called)
	}
	if err := st.TouchSandbox(ctx, "sb-none", t0); !errors.Is(err, ErrNotFound) {
		t.Errorf("TouchSandbox(unknown) = %v, want ErrNotFound", err)
	}
	tr := Transition{Sandbox: "sb-none", From: PhaseActive, To: PhaseWarned, Actor: ActorPolicy}
	if err := st.RecordTransition(ctx, tr); !errors.Is(err, ErrNotFound) {
		t.Errorf("RecordTransition(unknown) = %v, want ErrNotFound", err)
	}
	lcs, err := st.ListLifecycles(ctx)
	if err != nil || len(lcs) != 1 {
		t.Errorf("ListLifecycles = %v, %v; want only sb-a", lcs, err)
	}
}

func testUpdateLifecycle(t *testing.T, st Store) {
	mustCreate(t, st, newSandbox("sb-a"))

	t.Run("round trip", func(t *testing.T) {
		before := time.Now().Truncate(time.Microsecond)
		want := fullLifecycle("sb-a")
		got := mustUpdateLifecycle(t, st, "sb-a", setLifecycle(want))
		if got.UpdatedAt.Before(before) {
			t.Errorf("UpdatedAt = %s, want at or after %s", got.UpdatedAt, before)
		}
		want.UpdatedAt = got.UpdatedAt
		checkLifecycle(t, got, want)
		checkLifecycle(t, mustGetLifecycle(t, st, "sb-a"), want)

		// fn sees the stored record; clearing fields clears them.
		got = mustUpdateLifecycle(t, st, "sb-a", func(lc *Lifecycle) error {
			checkLifecycle(t, *lc, want)
			lc.Phase, lc.IdleSince, lc.Hold, lc.Policy = PhaseActive, time.Time{}, nil, nil

			return nil
		})
		want.Phase, want.IdleSince, want.Hold, want.Policy = PhaseActive, time.Time{}, nil, nil
		want.UpdatedAt = got.UpdatedAt
		checkLifecycle(t, got, want)
		checkLifecycle(t, mustGetLifecycle(t, st, "sb-a"), want)
	})

	t.Run("hold without set time", func(t *testing.T) {
		mustCreate(t, st, newSandbox("sb-hold"))
		before := time.Now().Truncate(time.Microsecond)
		got := mustUpdateLifecycle(t, st, "sb-hold", func(lc *Lifecycle) error {
			lc.Hold = &Hold{Until: t0.Add(time.Hour), Actor: ActorAgent}

			return nil
		})
		if got.Hold == nil || got.Hold.SetAt.Before(before) {
			t.Fatalf("hold = %+v, want SetAt at or after %s", got.Hold, before)
		}
		checkLifecycle(t, mustGetLifecycle(t, st, "sb-hold"), got)
	})

	errBoom := errors.New("boom")
	failures := []struct {
		name    string
		fn      func(*Lifecycle) error
		wantErr error
	}{
		{
			name: "fn error",
			fn: func(lc *Lifecycle) error {
				lc.Phase = PhasePaused

				return errBoom
			},
			wantErr: errBoom,
		},
		{name: "rename", fn: func(lc *Lifecycle) error {
			lc.Sandbox = "sb-other"

			return nil
		}},
		{name: "unknown phase", fn: func(lc *Lifecycle) error {
			lc.Phase = "asleep"

			return nil
		}},
		{name: "empty phase", fn: func(lc *Lifecycle) error {
			lc.Phase = ""

			return nil
		}},
		{name: "unknown hold actor", fn: func(lc *Lifecycle) error {
			lc.Hold = &Hold{Until: t0.Add(time.Hour), Actor: "cron"}

			return nil
		}},
		{name: "hold without until", fn: func(lc *Lifecycle) error {
			lc.Hold = &Hold{Actor: ActorUser}

			return nil
		}},
		{name: "policy not JSON", fn: func(lc *Lifecycle) error {
			lc.Policy = json.RawMessage(`{"idle_after":`)

			return nil
		}},
	}
	for i, tc := range failures {
		t.Run(tc.name, func(t *testing.T) {
			wantErr := tc.wantErr
			if wantErr == nil {
				wantErr = ErrInvalid
			}

			// A sandbox with no row must stay without one, and a stored record unchanged.
			fresh := fmt.Sprintf("sb-fresh-%d", i)
			mustCreate(t, st, newSandbox(fresh))
			if _, err := st.UpdateLifecycle(t.Context(), fresh, tc.fn); !errors.Is(err, wantErr) {
				t.Errorf("UpdateLifecycle(no row) = %v, want %v", err, wantErr)
			}
			checkLifecycle(t, mustGetLifecycle(t, st, fresh),
				Lifecycle{Sandbox: fresh, Phase: PhaseActive})

			stored := fmt.Sprintf("sb-stored-%d", i)
			mustCreate(t, st, newSandbox(stored))
			want := mustUpdateLifecycle(t, st, stored, setLifecycle(fullLifecycle(stored)))
			if _, err := st.UpdateLifecycle(t.Context(), stored, tc.fn); !errors.Is(err, wantErr) {
				t.Errorf("UpdateLifecycle(stored) = %v, want %v", err, wantErr)
			}
			checkLifecycle(t, mustGetLifecycle(t, st, stored), want)
		})
	}
}

func testTouchSandbox(t *testing.T, st Store) {
	ctx := t.Context()
	mustCreate(t, st, newSandbox("sb-a"))
	touch := func(name string, at time.Time) {
		t.Helper()
		if err := st.TouchSandbox(ctx, name, at); err != nil {
			t.Fatalf("TouchSandbox(%s, %s): %v", name, at, err)
		}
	}

	// The first touch creates the row as the default record plus the time.
	touch("sb-a", t0.In(time.FixedZone("UTC-3", -3*60*60)))
	want := Lifecycle{Sandbox: "sb-a", Phase: PhaseActive, LastUsedAt: t0}
	checkLifecycle(t, mustGetLifecycle(t, st, "sb-a"), want)

	touch("sb-a", t0.Add(-time.Minute))
	checkLifecycle(t, mustGetLifecycle(t, st, "sb-a"), want)
	touch("sb-a", t0.Add(time.Minute))
	want.LastUsedAt = t0.Add(time.Minute)
	checkLifecycle(t, mustGetLifecycle(t, st, "sb-a"), want)

	// A touch of a full record moves LastUsedAt only, UpdatedAt included.
	full := fullLifecycle("sb-a")
	full.LastUsedAt = time.Time{}
	want = mustUpdateLifecycle(t, st, "sb-a", setLifecycle(full))
	touch("sb-a", t0.Add(time.Hour))
	want.LastUsedAt = t0.Add(time.Hour)
	checkLifecycle(t, mustGetLifecycle(t, st, "sb-a"), want)
	touch("sb-a", t0)
	checkLifecycle(t, mustGetLifecycle(t, st, "sb-a"), want)

	mustCreate(t, st, newSandbox("sb-now"))
	before := time.Now().Truncate(time.Microsecond)
	touch("sb-now", time.Time{})
	if got := mustGetLifecycle(t, st, "sb-now"); got.LastUsedAt.Before(before) {
		t.Errorf("LastUsedAt after zero touch = %s, want at or after %s", got.LastUsedAt, before)
	}
}

func testListLifecycles(t *testing.T, st Store) {
	ctx := t.Context()
	lcs, err := st.ListLifecycles(ctx)
	if err != nil || len(lcs) != 0 {
		t.Fatalf("ListLifecycles(empty) = %v, %v; want none", lcs, err)
	}

	for _, name := range []string{"sb-a", "sb-b", "sb-c", "sb-d"} {
		mustCreate(t, st, newSandbox(name))
	}
	a := mustUpdateLifecycle(t, st, "sb-a", setLifecycle(fullLifecycle("sb-a")))
	mustUpdateLifecycle(t, st, "sb-c", setLifecycle(fullLifecycle("sb-c")))
	if err := st.TouchSandbox(ctx, "sb-d", t0); err != nil {
		t.Fatalf("TouchSandbox: %v", err)
	}
	if err := st.DeleteSandbox(ctx, "sb-c"); err != nil {
		t.Fatalf("DeleteSandbox: %v", err)
	}

	lcs, err = st.ListLifecycles(ctx)
	if err != nil {
		t.Fatalf("ListLifecycles: %v", err)
	}
	names := []string{}
	for name, lc := range lcs {
		if lc.Sandbox != name {
			t.Errorf("lifecycle keyed %s has Sandbox %s", name, lc.Sandbox)
		}
		names = append(names, name)
	}
	slices.Sort(names)
	if want := []string{"sb-a", "sb-b", "sb-d"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("ListLifecycles names = %q, want %q", names, want)
	}
	checkLifecycle(t, lcs["sb-a"], a)
	checkLifecycle(t, lcs["sb-b"], Lifecycle{Sandbox: "sb-b", Phase: PhaseActive})
	checkLifecycle(t, lcs["sb-d"], Lifecycle{Sandbox: "sb-d", Phase: PhaseActive, LastUsedAt: t0})
}

func testTransitions(t *testing.T, st Store) {
	ctx := t.Context()
	mustCreate(t, st, newSandbox("sb-a"))

	steps := []Transition{
		{From: PhaseActive, To: PhaseWarned, Actor: ActorPolicy, Reasons: []string{"idle 1h"}},
		{From: PhaseWarned, To: PhasePaused, Actor: ActorPolicy,
			Reasons: []string{"idle 2h", "no hold"}},
		{From: PhasePaused, To: PhaseActive, Actor: ActorAgent},
		{From: PhaseActive, To: PhaseDeleted, Actor: ActorUser, Reasons: []string{}},
	}
	// Recorded out of order: transitions are ordered by time, not by insertion.
	for _, i := range []int{0, 2, 1, 3} {
		tr := steps[i]
		tr.Sandbox = "sb-a"
		tr.At = t0.Add(time.Duration(i) * time.Minute).In(time.FixedZone("UTC+1", 3600))
		if err := st.RecordTransition(ctx, tr); err != nil {
			t.Fatalf("RecordTransition(%d): %v", i, err)
		}
		if tr.Reasons == nil {
			tr.Reasons = []string{}
		}
		steps[i] = tr
	}

	for _, tc := range limitCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := st.Transitions(ctx, "sb-a", tc.limit)
			if err != nil {
				t.Fatalf("Transitions: %v", err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("Transitions = %d, want %d", len(got), len(tc.want))
			}
			for i, step := range tc.want {
				want := steps[step]
				checkTime(t, got[i].At, want.At)
				if len(got[i].Reasons) == 0 && len(want.Reasons) == 0 {
					got[i].Reasons = want.Reasons // nil and empty both mean none
				}
				got[i].At = want.At
				if !reflect.DeepEqual(got[i], want) {
					t.Errorf("transition %d = %+v, want %+v", i, got[i], want)
				}
			}
		})
	}

	errs := []struct {
		name string
		tr   Transition
		want error
	}{
		{
			name: "unknown sandbox",
			tr: Transition{
				Sandbox: "sb-none", From: PhaseActive, To: PhaseWarned, Actor: ActorUser,
			},
			want: ErrNotFound,
		},
		{
			name: "unknown actor",
			tr:   Transition{Sandbox: "sb-a", From: PhaseActive, To: PhaseWarned, Actor: "cron"},
			want: ErrInvalid,
		},
		{
			name: "unknown to",
			tr:   Transition{Sandbox: "sb-a", From: PhaseActive, To: "asleep", Actor: ActorUser},
			want: ErrInvalid,
		},
		{
			name: "unknown from",
			tr:   Transition{Sandbox: "sb-a", From: "asleep", To: PhaseActive, Actor: ActorUser},
			want: ErrInvalid,
		},
		{
			name: "empty from",
			tr:   Transition{Sandbox: "sb-a", To: PhaseActive, Actor: ActorUser},
			want: ErrInvalid,
		},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			if err := st.RecordTransition(ctx, tc.tr); !errors.Is(err, tc.want) {
				t.Errorf("RecordTransition = %v, want %v", err, tc.want)
			}
		})
	}
	if got, err := st.Transitions(ctx, "sb-a", 0); err != nil || len(got) != len(steps) {
		t.Errorf("Transitions after rejected records = %d, %v; want %d", len(got), err, len(steps))
	}
	if got, err := st.Transitions(ctx, "sb-none", 0); err != nil || len(got) != 0 {
		t.Errorf("Transitions(unknown) = %v, %v; want none", got, err)
	}
}

// testConcurrentLifecycle runs 50 goroutines that each append their number to one hold's
// reason through UpdateLifecycle and touch the sandbox; a lost update or a moved-back
// LastUsedAt fails it.
func testConcurrentLifecycle(t *testing.T, st Store) {
	const writers = 50
	mustCreate(t, st, newSandbox("sb-shared"))

	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			_, err := st.UpdateLifecycle(t.Context(), "sb-shared", func(lc *Lifecycle) error {
				if lc.Hold == nil {
					lc.Hold = &Hold{Until: t0.Add(time.Hour), Actor: ActorAgent}
				}
				lc.Hold.Reason += fmt.Sprintf("%02d,", i)

				return nil
			})
			if err != nil {
				t.Errorf("UpdateLifecycle(%d): %v", i, err)
			}
			at := t0.Add(time.Duration(i) * time.Second)
			if err := st.TouchSandbox(t.Context(), "sb-shared", at); err != nil {
				t.Errorf("TouchSandbox(%d): %v", i, err)
			}
		})
	}
	wg.Wait()

	got := mustGetLifecycle(t, st, "sb-shared")
	if got.Hold == nil {
		t.Fatal("hold lost")
	}
	seen := strings.Split(strings.TrimSuffix(got.Hold.Reason, ","), ",")
	slices.Sort(seen)
	if len(slices.Compact(seen)) != writers {
		t.Errorf("hold reason has %d distinct writers, want %d: %q",
			len(slices.Compact(seen)), writers, got.Hold.Reason)
	}
	checkTime(t, got.LastUsedAt, t0.Add((writers-1)*time.Second))
}
