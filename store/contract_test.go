package store

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"
)

// testStore runs the Store contract against stores made by open, each case on a fresh,
// empty store that open closes through t.Cleanup. A PostgreSQL implementation passes its
// own open function and must pass unchanged. Times in these cases have microsecond
// precision, the finest PostgreSQL keeps; finer precision is tested per implementation.
func testStore(t *testing.T, open func(t *testing.T) Store) {
	t.Helper()

	cases := []struct {
		name string
		run  func(t *testing.T, st Store)
	}{
		{name: "CreateSandbox", run: testCreateSandbox},
		{name: "GetSandbox", run: testGetSandbox},
		{name: "ListSandboxes", run: testListSandboxes},
		{name: "UpdateSandbox", run: testUpdateSandbox},
		{name: "DeleteSandbox", run: testDeleteSandbox},
		{name: "PutSnapshot", run: testPutSnapshot},
		{name: "SnapshotsSameSecond", run: testSnapshotsSameSecond},
		{name: "StatusHistory", run: testStatusHistory},
		{name: "RecordEvent", run: testRecordEvent},
		{name: "Events", run: testEvents},
		{name: "Times", run: testTimes},
		{name: "ConcurrentWriters", run: testConcurrentWriters},
		{name: "Sessions", run: testSessions},
		{name: "GetLifecycle", run: testGetLifecycle},
		{name: "UpdateLifecycle", run: testUpdateLifecycle},
		{name: "TouchSandbox", run: testTouchSandbox},
		{name: "ListLifecycles", run: testListLifecycles},
		{name: "Transitions", run: testTransitions},
		{name: "ConcurrentLifecycle", run: testConcurrentLifecycle},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, open(t))
		})
	}
}

// t0 is the base time of the fixtures, with microsecond precision.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC)

func newSandbox(name string) Sandbox {
	return Sandbox{
		Name:      name,
		App:       "sandstorm-" + name,
		Region:    "ams",
		Image:     "ghcr.io/longrun/sandbox:1",
		MachineID: "m-" + name,
		VolumeID:  "vol-" + name,
		Status:    StatusRunning,
		Spec:      json.RawMessage(`{"cpus":2,"env":["GITHUB_TOKEN","LANG"]}`),
		CreatedAt: t0,
		UpdatedAt: t0.Add(time.Second),
	}
}

func mustCreate(t *testing.T, st Store, sb Sandbox) {
	t.Helper()
	if err := st.CreateSandbox(t.Context(), sb); err != nil {
		t.Fatalf("CreateSandbox(%s): %v", sb.Name, err)
	}
}

func mustGet(t *testing.T, st Store, name string) Sandbox {
	t.Helper()
	sb, err := st.GetSandbox(t.Context(), name)
	if err != nil {
		t.Fatalf("GetSandbox(%s): %v", name, err)
	}

	return sb
}

// checkSandbox fails unless got equals want field by field, comparing times with Equal
// and the spec as JSON, so a store may normalize either.
func checkSandbox(t *testing.T, got, want Sandbox) {
	t.Helper()
	gotSpec, wantSpec := got.Spec, want.Spec
	got.Spec, want.Spec = nil, nil
	gotTimes := []time.Time{got.CreatedAt, got.UpdatedAt}
	wantTimes := []time.Time{want.CreatedAt, want.UpdatedAt}
	got.CreatedAt, got.UpdatedAt, want.CreatedAt, want.UpdatedAt = time.Time{}, time.Time{},
		time.Time{}, time.Time{}

	if !reflect.DeepEqual(got, want) {
		t.Errorf("sandbox = %+v, want %+v", got, want)
	}
	if !sameJSON(gotSpec, wantSpec) {
		t.Errorf("spec = %s, want %s", gotSpec, wantSpec)
	}
	for i := range gotTimes {
		checkTime(t, gotTimes[i], wantTimes[i])
	}
}

func checkTime(t *testing.T, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) || got.Location() != time.UTC {
		t.Errorf("time = %s, want %s in UTC", got, want)
	}
}

func sameJSON(a, b json.RawMessage) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}

	return reflect.DeepEqual(x, y)
}

func testTimes(t *testing.T, st Store) {
	ctx := t.Context()
	zone := time.FixedZone("UTC-7", -7*60*60)
	at := time.Date(2026, 7, 4, 9, 30, 15, 987654000, zone)

	sb := newSandbox("sb-tz")
	sb.CreatedAt, sb.UpdatedAt = at, at.Add(time.Microsecond)
	mustCreate(t, st, sb)
	got := mustGet(t, st, "sb-tz")
	checkTime(t, got.CreatedAt, sb.CreatedAt)
	checkTime(t, got.UpdatedAt, sb.UpdatedAt)

	snap := Snapshot{ID: "snap-tz", Sandbox: "sb-tz", Reason: SnapshotPause, CreatedAt: at}
	if err := st.PutSnapshot(ctx, snap); err != nil {
		t.Fatalf("PutSnapshot: %v", err)
	}
	snaps, err := st.ListSnapshots(ctx, "sb-tz")
	if err != nil || len(snaps) != 1 {
		t.Fatalf("ListSnapshots = %v, %v", snaps, err)
	}
	checkTime(t, snaps[0].CreatedAt, at)

	c := StatusChange{Sandbox: "sb-tz", To: StatusRunning, Actor: ActorUser, At: at}
	if err := st.RecordStatus(ctx, c); err != nil {
		t.Fatalf("RecordStatus: %v", err)
	}
	changes, err := st.StatusHistory(ctx, "sb-tz", 1)
	if err != nil || len(changes) != 1 {
		t.Fatalf("StatusHistory = %v, %v", changes, err)
	}
	checkTime(t, changes[0].At, at)

	e := Event{At: at, Operation: "op", Actor: ActorUser, Outcome: OutcomeOK}
	if err := st.RecordEvent(ctx, e); err != nil {
		t.Fatalf("RecordEvent: %v", err)
	}
	// Since in another zone compares by instant.
	evs, err := st.Events(ctx, EventFilter{Since: at.In(time.UTC)})
	if err != nil || len(evs) != 1 {
		t.Fatalf("Events = %v, %v", evs, err)
	}
	checkTime(t, evs[0].At, at)
}

// increment adds one to the counter n in the sandbox's spec through UpdateSandbox.
func increment(t *testing.T, st Store, name string) error {
	_, err := st.UpdateSandbox(t.Context(), name, func(sb *Sandbox) error {
		var spec struct{ N int }
		if err := json.Unmarshal(sb.Spec, &spec); err != nil {
			return err
		}
		spec.N++
		b, err := json.Marshal(spec)
		sb.Spec = b

		return err
	})

	return err
}

func counter(t *testing.T, st Store, name string) int {
	t.Helper()
	var spec struct{ N int }
	if err := json.Unmarshal(mustGet(t, st, name).Spec, &spec); err != nil {
		t.Fatalf("decode counter: %v", err)
	}

	return spec.N
}

// testConcurrentWriters runs 50 goroutines that each create a sandbox, record an event and
// increment one shared counter; a lost update or a busy error fails it.
func testConcurrentWriters(t *testing.T, st Store) {
	const writers = 50
	shared := Sandbox{Name: "sb-shared", Status: StatusRunning, Spec: json.RawMessage(`{}`)}
	mustCreate(t, st, shared)

	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			name := fmt.Sprintf("sb-%02d", i)
			if err := st.CreateSandbox(t.Context(), newSandbox(name)); err != nil {
				t.Errorf("CreateSandbox(%s): %v", name, err)
			}
			if err := increment(t, st, "sb-shared"); err != nil {
				t.Errorf("increment: %v", err)
			}
			e := Event{Sandbox: name, Operation: "create_sandbox", Actor: ActorAgent,
				Outcome: OutcomeOK}
			if err := st.RecordEvent(t.Context(), e); err != nil {
				t.Errorf("RecordEvent(%s): %v", name, err)
			}
			if _, err := st.ListSandboxes(t.Context()); err != nil {
				t.Errorf("ListSandboxes: %v", err)
			}
		})
	}
	wg.Wait()

	if n := counter(t, st, "sb-shared"); n != writers {
		t.Errorf("counter = %d, want %d", n, writers)
	}
	sbs, err := st.ListSandboxes(t.Context())
	if err != nil || len(sbs) != writers+1 {
		t.Errorf("ListSandboxes = %d, %v; want %d", len(sbs), err, writers+1)
	}
	evs, err := st.Events(t.Context(), EventFilter{Limit: MaxLimit})
	if err != nil || len(evs) != writers {
		t.Errorf("Events = %d, %v; want %d", len(evs), err, writers)
	}
}
