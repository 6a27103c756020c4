package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"
)

func testCreateSandbox(t *testing.T, st Store) {
	want := newSandbox("sb-alice")
	mustCreate(t, st, want)
	checkSandbox(t, mustGet(t, st, "sb-alice"), want)

	dup := newSandbox("sb-alice")
	dup.Region = "ord"
	if err := st.CreateSandbox(t.Context(), dup); !errors.Is(err, ErrExists) {
		t.Errorf("CreateSandbox(duplicate) = %v, want ErrExists", err)
	}
	checkSandbox(t, mustGet(t, st, "sb-alice"), want)

	minimal := Sandbox{Name: "sb-minimal", Status: StatusCreating}
	before := time.Now().Truncate(time.Microsecond)
	mustCreate(t, st, minimal)
	got := mustGet(t, st, "sb-minimal")
	if got.CreatedAt.Before(before) || !got.UpdatedAt.Equal(got.CreatedAt) {
		t.Errorf("times = %s, %s, want now and equal", got.CreatedAt, got.UpdatedAt)
	}
	if got.Spec != nil {
		t.Errorf("spec = %q, want nil", got.Spec)
	}

	invalid := []struct {
		name string
		edit func(*Sandbox)
	}{
		{name: "empty name", edit: func(sb *Sandbox) { sb.Name = "" }},
		{name: "unknown status", edit: func(sb *Sandbox) { sb.Status = "sleeping" }},
		{name: "empty status", edit: func(sb *Sandbox) { sb.Status = "" }},
		{name: "spec not JSON", edit: func(sb *Sandbox) { sb.Spec = json.RawMessage(`{`) }},
	}
	for _, tc := range invalid {
		t.Run(tc.name, func(t *testing.T) {
			sb := newSandbox("sb-invalid")
			tc.edit(&sb)
			if err := st.CreateSandbox(t.Context(), sb); !errors.Is(err, ErrInvalid) {
				t.Errorf("CreateSandbox = %v, want ErrInvalid", err)
			}
			if _, err := st.GetSandbox(t.Context(), sb.Name); !errors.Is(err, ErrNotFound) {
				t.Errorf("GetSandbox after invalid create = %v, want ErrNotFound", err)
			}
		})
	}
}

func testGetSandbox(t *testing.T, st Store) {
	mustCreate(t, st, newSandbox("sb-alice"))

	_, err := st.GetSandbox(t.Context(), "sb-bob")
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("GetSandbox(missing) = %v, want ErrNotFound", err)
	}
	if got := mustGet(t, st, "sb-alice"); got.Name != "sb-alice" {
		t.Errorf("GetSandbox(sb-alice).Name = %q", got.Name)
	}
}

func testListSandboxes(t *testing.T, st Store) {
	sbs, err := st.ListSandboxes(t.Context())
	if err != nil || len(sbs) != 0 {
		t.Fatalf("ListSandboxes(empty) = %v, %v; want none", sbs, err)
	}

	for _, name := range []string{"sb-c", "sb-a", "sb-b", "sb-B"} {
		mustCreate(t, st, newSandbox(name))
	}
	sbs, err = st.ListSandboxes(t.Context())
	if err != nil {
		t.Fatalf("ListSandboxes: %v", err)
	}
	var names []string
	for _, sb := range sbs {
		names = append(names, sb.Name)
	}
	if want := []string{"sb-B", "sb-a", "sb-b", "sb-c"}; !reflect.DeepEqual(names, want) {
		t.Errorf("ListSandboxes names = %q, want %q", names, want)
	}
	checkSandbox(t, sbs[1], newSandbox("sb-a"))
}

func testUpdateSandbox(t *testing.T, st Store) {
	errBoom := errors.New("boom")
	tests := []struct {
		name    string
		fn      func(*Sandbox) error
		wantErr error
		// edit is applied to the stored sandbox to get the expected result.
		edit func(*Sandbox)
	}{
		{
			name: "applies fn",
			fn: func(sb *Sandbox) error {
				sb.Status, sb.MachineID, sb.LastError = StatusPaused, "", "idle for 2h"
				sb.Spec = json.RawMessage(`{"cpus":4}`)

				return nil
			},
			edit: func(sb *Sandbox) {
				sb.Status, sb.MachineID, sb.LastError = StatusPaused, "", "idle for 2h"
				sb.Spec = json.RawMessage(`{"cpus":4}`)
			},
		},
		{
			name: "clears spec",
			fn: func(sb *Sandbox) error {
				sb.Spec = nil

				return nil
			},
			edit: func(sb *Sandbox) { sb.Spec = nil },
		},
		{
			name: "fn error rolls back",
			fn: func(sb *Sandbox) error {
				sb.Status = StatusError

				return errBoom
			},
			wantErr: errBoom,
		},
		{
			name: "rename",
			fn: func(sb *Sandbox) error {
				sb.Name = "sb-other"

				return nil
			},
			wantErr: ErrInvalid,
		},
		{
			name: "created time changed",
			fn: func(sb *Sandbox) error {
				sb.CreatedAt = sb.CreatedAt.Add(time.Hour)

				return nil
			},
			wantErr: ErrInvalid,
		},
		{
			name: "unknown status",
			fn: func(sb *Sandbox) error {
				sb.Status = "sleeping"

				return nil
			},
			wantErr: ErrInvalid,
		},
		{
			name: "spec not JSON",
			fn: func(sb *Sandbox) error {
				sb.Spec = json.RawMessage(`{"cpus":`)

				return nil
			},
			wantErr: ErrInvalid,
		},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name := fmt.Sprintf("sb-%d", i)
			stored := newSandbox(name)
			mustCreate(t, st, stored)
			before := time.Now().Truncate(time.Microsecond)

			got, err := st.UpdateSandbox(t.Context(), name, tc.fn)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("UpdateSandbox = %v, want %v", err, tc.wantErr)
				}
				checkSandbox(t, mustGet(t, st, name), stored)

				return
			}
			if err != nil {
				t.Fatalf("UpdateSandbox: %v", err)
			}

			want := stored
			tc.edit(&want)
			if got.UpdatedAt.Before(before) {
				t.Errorf("UpdatedAt = %s, want at or after %s", got.UpdatedAt, before)
			}
			want.UpdatedAt = got.UpdatedAt
			checkSandbox(t, got, want)
			checkSandbox(t, mustGet(t, st, name), want)
		})
	}

	t.Run("missing", func(t *testing.T) {
		called := false
		_, err := st.UpdateSandbox(t.Context(), "sb-missing", func(*Sandbox) error {
			called = true

			return nil
		})
		if !errors.Is(err, ErrNotFound) || called {
			t.Errorf("UpdateSandbox(missing) = %v, fn called %t; want ErrNotFound, false",
				err, called)
		}
	})
}

func testDeleteSandbox(t *testing.T, st Store) {
	ctx := t.Context()
	for _, name := range []string{"sb-gone", "sb-kept"} {
		mustCreate(t, st, newSandbox(name))
		snap := Snapshot{ID: "snap-" + name, Sandbox: name, Reason: SnapshotPause}
		if err := st.PutSnapshot(ctx, snap); err != nil {
			t.Fatalf("PutSnapshot: %v", err)
		}
		c := StatusChange{Sandbox: name, From: StatusRunning, To: StatusPaused, Actor: ActorPolicy}
		if err := st.RecordStatus(ctx, c); err != nil {
			t.Fatalf("RecordStatus: %v", err)
		}
		e := Event{Sandbox: name, Operation: "create_sandbox", Actor: ActorUser, Outcome: OutcomeOK}
		if err := st.RecordEvent(ctx, e); err != nil {
			t.Fatalf("RecordEvent: %v", err)
		}
		mustUpdateLifecycle(t, st, name, setLifecycle(fullLifecycle(name)))
		tr := Transition{Sandbox: name, From: PhaseActive, To: PhaseWarned, Actor: ActorPolicy}
		if err := st.RecordTransition(ctx, tr); err != nil {
			t.Fatalf("RecordTransition: %v", err)
		}
	}

	if err := st.DeleteSandbox(ctx, "sb-gone"); err != nil {
		t.Fatalf("DeleteSandbox: %v", err)
	}
	if err := st.DeleteSandbox(ctx, "sb-gone"); !errors.Is(err, ErrNotFound) {
		t.Errorf("DeleteSandbox(again) = %v, want ErrNotFound", err)
	}
	if _, err := st.GetSandbox(ctx, "sb-gone"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetSandbox(deleted) = %v, want ErrNotFound", err)
	}

	// A sandbox created again under the same name starts with no history.
	mustCreate(t, st, newSandbox("sb-gone"))
	for _, tc := range []struct {
		name                                 string
		snapshots, changes, evs, transitions int
		phase                                string
	}{
		{name: "sb-gone", snapshots: 0, changes: 0, evs: 1, transitions: 0, phase: PhaseActive},
		{name: "sb-kept", snapshots: 1, changes: 1, evs: 1, transitions: 1, phase: PhaseWarned},
	} {
		snaps, err := st.ListSnapshots(ctx, tc.name)
		if err != nil || len(snaps) != tc.snapshots {
			t.Errorf("ListSnapshots(%s) = %d, %v; want %d", tc.name, len(snaps), err, tc.snapshots)
		}
		changes, err := st.StatusHistory(ctx, tc.name, 0)
		if err != nil || len(changes) != tc.changes {
			t.Errorf("StatusHistory(%s) = %d, %v; want %d", tc.name, len(changes), err, tc.changes)
		}
		evs, err := st.Events(ctx, EventFilter{Sandbox: tc.name})
		if err != nil || len(evs) != tc.evs {
			t.Errorf("Events(%s) = %d, %v; want %d", tc.name, len(evs), err, tc.evs)
		}
		trs, err := st.Transitions(ctx, tc.name, 0)
		if err != nil || len(trs) != tc.transitions {
			t.Errorf("Transitions(%s) = %d, %v; want %d", tc.name, len(trs), err, tc.transitions)
		}
		// The recreated sandbox reads as the default record: it has no row.
		lc, err := st.GetLifecycle(ctx, tc.name)
		defaulted := tc.phase == PhaseActive
		if err != nil || lc.Phase != tc.phase || lc.UpdatedAt.IsZero() != defaulted {
			t.Errorf("GetLifecycle(%s) = %+v, %v; want phase %s", tc.name, lc, err, tc.phase)
		}
	}
}
