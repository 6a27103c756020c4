package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// limitCases are the limits a history query is tried with over four records,
// 0 to 3, and the records each returns, newest first.
var limitCases = []struct {
	name  string
	limit int
	want  []int
}{
	{name: "default limit", limit: 0, want: []int{3, 2, 1, 0}},
	{name: "negative limit", limit: -1, want: []int{3, 2, 1, 0}},
	{name: "limit 2", limit: 2, want: []int{3, 2}},
	{name: "limit above count", limit: 10, want: []int{3, 2, 1, 0}},
}

func testPutSnapshot(t *testing.T, st Store) {
	ctx := t.Context()
	mustCreate(t, st, newSandbox("sb-a"))
	mustCreate(t, st, newSandbox("sb-b"))

	for i, id := range []string{"snap-2", "snap-1", "snap-3"} {
		snap := Snapshot{
			ID:        id,
			Sandbox:   "sb-a",
			VolumeID:  "vol-sb-a",
			Status:    "waiting",
			Reason:    SnapshotManual,
			CreatedAt: t0.Add(time.Duration(id[5]-'0') * time.Minute),
		}
		if i == 0 {
			snap.Reason = SnapshotPause
		}
		if err := st.PutSnapshot(ctx, snap); err != nil {
			t.Fatalf("PutSnapshot(%s): %v", id, err)
		}
	}

	// Updating by ID changes the row in place; a zero CreatedAt keeps the stored one.
	update := Snapshot{
		ID:        "snap-2",
		Sandbox:   "sb-a",
		VolumeID:  "vol-sb-a",
		Status:    "created",
		Reason:    SnapshotPause,
		SizeBytes: 1 << 30,
	}
	if err := st.PutSnapshot(ctx, update); err != nil {
		t.Fatalf("PutSnapshot(update): %v", err)
	}
	update.CreatedAt = t0.Add(2 * time.Minute)

	got, err := st.ListSnapshots(ctx, "sb-a")
	if err != nil {
		t.Fatalf("ListSnapshots: %v", err)
	}
	if len(got) != 3 {
		t.Fatalf("ListSnapshots = %d snapshots, want 3", len(got))
	}
	for i, id := range []string{"snap-3", "snap-2", "snap-1"} {
		if got[i].ID != id {
			t.Errorf("snapshot %d = %s, want %s (newest first)", i, got[i].ID, id)
		}
	}
	checkTime(t, got[1].CreatedAt, update.CreatedAt)
	got[1].CreatedAt = update.CreatedAt
	if got[1] != update {
		t.Errorf("updated snapshot = %+v, want %+v", got[1], update)
	}

	errs := []struct {
		name string
		snap Snapshot
		want error
	}{
		{
			name: "unknown sandbox",
			snap: Snapshot{ID: "snap-9", Sandbox: "sb-none", Reason: SnapshotManual},
			want: ErrNotFound,
		},
		{
			name: "id of another sandbox",
			snap: Snapshot{ID: "snap-1", Sandbox: "sb-b", Reason: SnapshotManual},
			want: ErrExists,
		},
		{
			name: "unknown reason",
			snap: Snapshot{ID: "snap-9", Sandbox: "sb-a", Reason: "whim"},
			want: ErrInvalid,
		},
		{
			name: "empty id",
			snap: Snapshot{Sandbox: "sb-a", Reason: SnapshotManual},
			want: ErrInvalid,
		},
		{
			name: "negative size",
			snap: Snapshot{ID: "snap-9", Sandbox: "sb-a", Reason: SnapshotManual, SizeBytes: -1},
			want: ErrInvalid,
		},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			if err := st.PutSnapshot(ctx, tc.snap); !errors.Is(err, tc.want) {
				t.Errorf("PutSnapshot = %v, want %v", err, tc.want)
			}
		})
	}
	if snaps, err := st.ListSnapshots(ctx, "sb-b"); err != nil || len(snaps) != 0 {
		t.Errorf("ListSnapshots(sb-b) = %v, %v; want none", snaps, err)
	}
}

func testStatusHistory(t *testing.T, st Store) {
	ctx := t.Context()
	mustCreate(t, st, newSandbox("sb-a"))

	steps := []StatusChange{
		{To: StatusCreating, Actor: ActorUser, Reason: "create_sandbox"},
		{From: StatusCreating, To: StatusRunning, Actor: ActorSystem},
		{From: StatusRunning, To: StatusPaused, Actor: ActorPolicy, Reason: "idle 2h"},
		{From: StatusPaused, To: StatusRunning, Actor: ActorAgent, Reason: "resume"},
	}
	// Recorded out of order: history is ordered by time, not by insertion.
	for _, i := range []int{0, 2, 1, 3} {
		c := steps[i]
		c.Sandbox = "sb-a"
		c.At = t0.Add(time.Duration(i) * time.Minute)
		steps[i] = c
		if err := st.RecordStatus(ctx, c); err != nil {
			t.Fatalf("RecordStatus(%d): %v", i, err)
		}
	}

	for _, tc := range limitCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := st.StatusHistory(ctx, "sb-a", tc.limit)
			if err != nil {
				t.Fatalf("StatusHistory: %v", err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("StatusHistory = %d changes, want %d", len(got), len(tc.want))
			}
			for i, step := range tc.want {
				checkTime(t, got[i].At, steps[step].At)
				got[i].At = steps[step].At
				if got[i] != steps[step] {
					t.Errorf("change %d = %+v, want %+v", i, got[i], steps[step])
				}
			}
		})
	}

	errs := []struct {
		name   string
		change StatusChange
		want   error
	}{
		{
			name:   "unknown sandbox",
			change: StatusChange{Sandbox: "sb-none", To: StatusRunning, Actor: ActorUser},
			want:   ErrNotFound,
		},
		{
			name:   "unknown actor",
			change: StatusChange{Sandbox: "sb-a", To: StatusRunning, Actor: "cron"},
			want:   ErrInvalid,
		},
		{
			name:   "unknown to",
			change: StatusChange{Sandbox: "sb-a", To: "asleep", Actor: ActorUser},
			want:   ErrInvalid,
		},
		{
			name: "unknown from",
			change: StatusChange{
				Sandbox: "sb-a", From: "asleep", To: StatusRunning, Actor: ActorUser,
			},
			want: ErrInvalid,
		},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			if err := st.RecordStatus(ctx, tc.change); !errors.Is(err, tc.want) {
				t.Errorf("RecordStatus = %v, want %v", err, tc.want)
			}
		})
	}
	if got, err := st.StatusHistory(ctx, "sb-none", 0); err != nil || len(got) != 0 {
		t.Errorf("StatusHistory(unknown) = %v, %v; want none", got, err)
	}
}

func testRecordEvent(t *testing.T, st Store) {
	ctx := t.Context()
	want := Event{
		At:        t0,
		Sandbox:   "sb-a",
		Operation: "exec",
		Actor:     ActorAgent,
		Args:      json.RawMessage(`{"command":"make test","env":{"TOKEN":"[redacted]"}}`),
		Outcome:   OutcomeError,
		Error:     "exit status 2",
		Duration:  1500 * time.Millisecond,
	}
	if err := st.RecordEvent(ctx, want); err != nil {
		t.Fatalf("RecordEvent: %v", err)
	}
	before := time.Now().Truncate(time.Microsecond)
	list := Event{Operation: "list_sandboxes", Actor: ActorUser, Outcome: OutcomeOK}
	if err := st.RecordEvent(ctx, list); err != nil {
		t.Fatalf("RecordEvent(no sandbox, no time): %v", err)
	}

	got, err := st.Events(ctx, EventFilter{})
	if err != nil || len(got) != 2 {
		t.Fatalf("Events = %d, %v; want 2", len(got), err)
	}
	if got[0].Operation != "list_sandboxes" || got[0].At.Before(before) || got[0].Args != nil {
		t.Errorf("event without time = %+v, want now and no args", got[0])
	}
	if got[0].ID == 0 || got[1].ID == 0 || got[0].ID == got[1].ID {
		t.Errorf("event IDs = %d, %d; want distinct and set", got[0].ID, got[1].ID)
	}
	e := got[1]
	checkTime(t, e.At, want.At)
	if !sameJSON(e.Args, want.Args) {
		t.Errorf("args = %s, want %s", e.Args, want.Args)
	}
	e.ID, e.At, e.Args = 0, want.At, want.Args
	if !reflect.DeepEqual(e, want) {
		t.Errorf("event = %+v, want %+v", e, want)
	}

	errs := []struct {
		name string
		edit func(*Event)
	}{
		{name: "empty operation", edit: func(e *Event) { e.Operation = "" }},
		{name: "unknown actor", edit: func(e *Event) { e.Actor = "robot" }},
		{name: "unknown outcome", edit: func(e *Event) { e.Outcome = "maybe" }},
		{name: "negative duration", edit: func(e *Event) { e.Duration = -time.Second }},
		{name: "args not JSON", edit: func(e *Event) { e.Args = json.RawMessage(`[1,`) }},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			e := want
			tc.edit(&e)
			if err := st.RecordEvent(ctx, e); !errors.Is(err, ErrInvalid) {
				t.Errorf("RecordEvent = %v, want ErrInvalid", err)
			}
		})
	}
}

func testEvents(t *testing.T, st Store) {
	ctx := t.Context()
	fixtures := []struct{ sandbox, op string }{
		{"sb-a", "create_sandbox"}, // minute 0
		{"sb-b", "create_sandbox"}, // minute 1
		{"", "list_sandboxes"},     // minute 2
		{"sb-a", "exec"},           // minute 3
		{"sb-a", "exec"},           // minute 4
		{"sb-b", "exec"},           // minute 5
		{"sb-a", "pause_sandbox"},  // minute 6
		{"sb-a", "pause_sandbox"},  // minute 6 again: ties go to the later insert
	}
	for i, f := range fixtures {
		e := Event{
			At:        t0.Add(time.Duration(min(i, 6)) * time.Minute),
			Sandbox:   f.sandbox,
			Operation: f.op,
			Actor:     ActorUser,
			Args:      json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)),
			Outcome:   OutcomeOK,
		}
		if err := st.RecordEvent(ctx, e); err != nil {
			t.Fatalf("RecordEvent(%d): %v", i, err)
		}
	}

	tests := []struct {
		name   string
		filter EventFilter
		want   []int // fixture indexes, newest first
	}{
		{name: "all", filter: EventFilter{}, want: []int{7, 6, 5, 4, 3, 2, 1, 0}},
		{name: "sandbox", filter: EventFilter{Sandbox: "sb-b"}, want: []int{5, 1}},
		{name: "operation", filter: EventFilter{Operation: "exec"}, want: []int{5, 4, 3}},
		{
			name:   "sandbox and operation",
			filter: EventFilter{Sandbox: "sb-a", Operation: "exec"},
			want:   []int{4, 3},
		},
		{
			name:   "since is inclusive",
			filter: EventFilter{Since: t0.Add(5 * time.Minute)},
			want:   []int{7, 6, 5},
		},
		{
			name:   "since between events",
			filter: EventFilter{Since: t0.Add(4*time.Minute + time.Microsecond)},
			want:   []int{7, 6, 5},
		},
		{name: "limit", filter: EventFilter{Limit: 3}, want: []int{7, 6, 5}},
		{
			name:   "all filters",
			filter: EventFilter{Sandbox: "sb-a", Operation: "exec", Since: t0, Limit: 1},
			want:   []int{4},
		},
		{name: "no match", filter: EventFilter{Sandbox: "sb-none"}, want: []int{}},
		{name: "since in the future", filter: EventFilter{Since: t0.Add(time.Hour)}, want: []int{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := st.Events(ctx, tc.filter)
			if err != nil {
				t.Fatalf("Events: %v", err)
			}
			idx := []int{}
			for _, e := range got {
				var args struct{ I int }
				if err := json.Unmarshal(e.Args, &args); err != nil {
					t.Fatalf("event args %s: %v", e.Args, err)
				}
				idx = append(idx, args.I)
			}
			if !reflect.DeepEqual(idx, tc.want) {
				t.Errorf("Events(%+v) = fixtures %v, want %v", tc.filter, idx, tc.want)
			}
		})
	}
}

// testTimes checks that times in any zone come back equal and in UTC.

// testSnapshotsSameSecond pins that snapshots taken within one second, which
// Fly's whole-second created_at cannot order, list in the order recorded,
// latest first: resume once took an older snapshot for the latest this way.
func testSnapshotsSameSecond(t *testing.T, st Store) {
	ctx := t.Context()
	mustCreate(t, st, newSandbox("sb-s"))
	for _, id := range []string{"vs_zzz", "vs_aaa", "vs_mmm"} {
		err := st.PutSnapshot(ctx, Snapshot{ID: id, Sandbox: "sb-s", VolumeID: "vol",
			Status: "created", Reason: SnapshotPause, CreatedAt: t0})
		if err != nil {
			t.Fatal(err)
		}
	}
	snaps, err := st.ListSnapshots(ctx, "sb-s")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range snaps {
		got = append(got, s.ID)
	}
	if strings.Join(got, ",") != "vs_mmm,vs_aaa,vs_zzz" {
		t.Errorf("snapshots = %v, want the latest recorded first", got)
	}
}
