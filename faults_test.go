package sandstorm_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/longrun/sandstorm"
	"github.com/longrun/sandstorm/flyclient"
	"github.com/longrun/sandstorm/flyclient/flylocal"
	"github.com/longrun/sandstorm/store"
)

// faultOp is an operation under fault injection: setup brings a fresh env to
// the state the operation starts from, and run performs it.
type faultOp struct {
	name string
	// op is the operation as its StepError names it: create, pause, resume
	// or delete.
	op    string
	setup func(t *testing.T, e *env)
	run   func(ctx context.Context, e *env) error
	// failStep, when set, is the step at which setup makes the operation fail
	// with no injected fault. Only undoRoutes are then faulted: the cases
	// test the undo of a failed create.
	failStep string
}

const (
	marker = "/data/marker.txt"

	routeCreateMachine = "POST /v1/apps/{app_name}/machines"
	routeWait          = "GET /v1/apps/{app_name}/machines/{machine_id}/wait"
	routeDeleteApp     = "DELETE /v1/apps/{app_name}"
	routeGetApp        = "GET /v1/apps/{app_name}"
)

// undoRoutes are the calls the undo of a failed create makes: delete the app,
// then look until it is gone.
var undoRoutes = []string{routeDeleteApp, routeGetApp}

// markerContent is what createWithMarker writes: every byte value, newlines
// and NULs included, so a transfer or restore that mangles any of them shows.
var markerContent = func() []byte {
	b := make([]byte, 64<<10)
	for i := range b {
		b[i] = byte(i*31 + i>>8)
	}

	return b
}()

var faultOps = []faultOp{
	{
		name:  "create",
		op:    "create",
		setup: func(*testing.T, *env) {},
		run:   createF,
	},
	{
		name:     "create undo after create machine",
		op:       "create",
		setup:    func(t *testing.T, e *env) { refuse(t, e, routeCreateMachine) },
		run:      createF,
		failStep: "create machine",
	},
	{
		name:     "create undo after wait",
		op:       "create",
		setup:    func(t *testing.T, e *env) { refuse(t, e, routeWait) },
		run:      createF,
		failStep: "wait for machine to start",
	},
	{
		name:  "pause",
		op:    "pause",
		setup: func(t *testing.T, e *env) { e.createWithMarker(t) },
		run: func(ctx context.Context, e *env) error {
			_, err := e.m.Pause(ctx, "f", nil)
			return err
		},
	},
	{
		name:  "resume",
		op:    "resume",
		setup: pausedWithMarker,
		run:   resumeF,
	},
	{
		name: "resume from snapshot",
		op:   "resume",
		setup: func(t *testing.T, e *env) {
			pausedWithMarker(t, e)
			// A lost volume forces the restore path.
			sb, _ := e.m.Get(t.Context(), "f")
			if _, err := e.client.DeleteVolume(t.Context(), sb.App, sb.VolumeID); err != nil {
				t.Fatal(err)
			}
		},
		run: resumeF,
	},
	{
		name:  "delete",
		op:    "delete",
		setup: func(t *testing.T, e *env) { e.createWithMarker(t) },
		run: func(ctx context.Context, e *env) error {
			_, err := e.m.Delete(ctx, "f")
			return err
		},
	},
}

// createF creates sandbox "f" with one env value, so secrets are set too.
func createF(ctx context.Context, e *env) error {
	_, err := e.m.Create(ctx, sandstorm.CreateRequest{Name: "f", MemoryMB: 256, CPUs: 1,
		Env: map[string]string{"A": "b"}})

	return err
}

// resumeF resumes paused sandbox "f".
func resumeF(ctx context.Context, e *env) error {
	_, err := e.m.Resume(ctx, sandstorm.ResumeRequest{Name: "f"})
	return err
}

// refuse makes Fly answer every call of route with a 400, which no client
// retries, so the operation fails at that step.
func refuse(t *testing.T, e *env, route string) {
	t.Helper()
	t.Cleanup(e.fly.InjectFault(flylocal.Fault{Route: route, Status: 400,
		Body: `{"error":"refused by the test"}`}))
}

// faultKind is one kind of failure, injected at a route and call number.
type faultKind struct {
	name  string
	fault flylocal.Fault
}

var faultKinds = []faultKind{
	{name: "503", fault: flylocal.Fault{Status: 503}},
	{name: "429", fault: flylocal.Fault{Status: 429}},
	{name: "reset", fault: flylocal.Fault{Reset: true}},
	{name: "hang", fault: flylocal.Fault{Hang: true}},
}

// refusal is a definite 4xx, which no client retries. On the undo's routes it
// makes the undo itself fail, so the case tests what Delete does after.
var refusal = faultKind{name: "400", fault: flylocal.Fault{Status: 400}}

// createWithMarker creates sandbox "f" and writes markerContent to marker.
func (e *env) createWithMarker(t *testing.T) {
	t.Helper()
	e.create(t, "f")
	_, err := e.m.WriteFile(t.Context(), sandstorm.WriteFileRequest{Sandbox: "f", Path: marker,
		Content: markerContent})
	if err != nil {
		t.Fatal(err)
	}
}

// pausedWithMarker is createWithMarker followed by a pause.
func pausedWithMarker(t *testing.T, e *env) {
	t.Helper()
	e.createWithMarker(t)
	if _, err := e.m.Pause(t.Context(), "f", nil); err != nil {
		t.Fatal(err)
	}
}

// TestManager_Faults injects a 5xx, a 429, a connection reset and a hang into
// each Fly call that create, pause, resume and delete make, one call at a
// time, and into the calls of the undo of a create that failed late. Each run
// must succeed through retries or fail with an error naming the step.
// Afterwards flylocal must hold nothing the store does not record and the
// store nothing Fly does not hold, what a failed run left must be finished by
// trying again, and the volume's bytes must be intact.
func TestManager_Faults(t *testing.T) {
	t.Parallel()
	for _, op := range faultOps {
		t.Run(op.name, func(t *testing.T) {
			t.Parallel()
			calls := discoverCalls(t, op)
			for _, fc := range faultCases(op, calls) {
				t.Run(fc.name, func(t *testing.T) {
					t.Parallel()
					runFaulted(t, op, fc.fault)
				})
			}
		})
	}
}

// discoverCalls runs op once without faults and returns how many times it
// called each route; for an op that fails on its own, only the undo's routes.
func discoverCalls(t *testing.T, op faultOp) map[string]int {
	t.Helper()
	e := newEnv(t)
	op.setup(t, e)
	e.fly.ResetCounts()
	err := op.run(t.Context(), e)
	var stepErr *sandstorm.StepError
	switch {
	case op.failStep == "" && err != nil:
		t.Fatalf("%s without faults: %v", op.name, err)
	case op.failStep != "" && (!errors.As(err, &stepErr) || stepErr.Step != op.failStep):
		t.Fatalf("%s without faults: err = %v, want a failure at step %q", op.name, err,
			op.failStep)
	}
	calls := e.fly.RequestCounts()
	if op.failStep != "" {
		for route := range calls {
			if !slices.Contains(undoRoutes, route) {
				delete(calls, route)
			}
		}
	}
	if len(calls) < 2 {
		t.Fatalf("%s made calls %v; the discovery is broken", op.name, calls)
	}
	t.Logf("%s calls %v", op.name, calls)

	return calls
}

// faultCase is one run of an op with one fault injected.
type faultCase struct {
	name  string
	fault flylocal.Fault
}

// faultCases returns a fault for each call of each route in calls, by route
// and call number. The first call of a route gets every kind: that is where
// the kinds take different paths (a create's look for an uncertain earlier
// attempt, a 429 resent at once). A later call runs the same retry code in a
// later state (the second IP, a poll midway), so it gets one kind, rotating
// by call number and route so that every kind lands on later calls too. That
// keeps the run to about a minute: each hang on a wait or an exec costs the
// minute or so the client lets Fly hold those calls. Undo cases also get a
// refusal on each route's first call, which the undo cannot retry.
func faultCases(op faultOp, calls map[string]int) []faultCase {
	routes := make([]string, 0, len(calls))
	for route := range calls {
		routes = append(routes, route)
	}
	slices.Sort(routes)

	var cases []faultCase
	add := func(route string, n int, k faultKind) {
		f := k.fault
		f.Route, f.Nth, f.Times = route, n, 1
		cases = append(cases, faultCase{name: fmt.Sprintf("%s#%d/%s", route, n, k.name), fault: f})
	}
	for r, route := range routes {
		for _, k := range faultKinds {
			add(route, 1, k)
		}
		if op.failStep != "" {
			add(route, 1, refusal)
		}
		for n := 2; n <= calls[route]; n++ {
			add(route, n, faultKinds[(n+r)%len(faultKinds)])
		}
	}

	return cases
}

// runFaulted runs op with f injected and checks what it left.
func runFaulted(t *testing.T, op faultOp, f flylocal.Fault) {
	t.Helper()
	e := newEnvTimeout(t, 700*time.Millisecond)
	op.setup(t, e)
	e.fly.ResetCounts()
	remove := e.fly.InjectFault(f)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	err := op.run(ctx, e)
	cancel()
	remove()
	if got := e.fly.RequestCounts()[f.Route]; got < f.Nth {
		// Polls vary in number from run to run.
		t.Logf("%s was called %d times this run, so call %d was not faulted", f.Route, got,
			f.Nth)
	}
	if err != nil {
		t.Logf("%s failed: %v", op.name, err)
	}

	checkCleanFailure(t, op, err)
	checkNoOrphans(t, e)
	switch op.op {
	case "create":
		checkCreateUndone(t, e, err)
	case "delete":
		checkDeleted(t, e, err)
	default:
		checkData(t, e, op.op, err)
	}
}

// checkCleanFailure fails the test unless err is nil (the run succeeded
// through retries) or a StepError of op that names its step and says what
// state it left. A bare caller-facing Error does not count: a Fly fault is no
// fault of the caller's request. An op that setup makes fail must fail at its
// step.
func checkCleanFailure(t *testing.T, op faultOp, err error) {
	t.Helper()
	if err == nil {
		if op.failStep != "" {
			t.Errorf("%s succeeded, want a failure at step %q", op.name, op.failStep)
		}

		return
	}
	if strings.TrimSpace(err.Error()) == "" {
		t.Error("empty error message")
	}
	var stepErr *sandstorm.StepError
	var userErr *sandstorm.Error
	switch {
	case errors.As(err, &stepErr):
		if stepErr.Op != op.op || stepErr.Step == "" || stepErr.Outcome == "" {
			t.Errorf("%s failed with step error {op %q, step %q, outcome %q}; want op %q "+
				"with a step and an outcome", op.name, stepErr.Op, stepErr.Step,
				stepErr.Outcome, op.op)
		}
		if op.failStep != "" && stepErr.Step != op.failStep {
			t.Errorf("%s failed at step %q, want %q", op.name, stepErr.Step, op.failStep)
		}
	case errors.As(err, &userErr):
		t.Errorf("%s failed with a caller-facing error that names no step: %v", op.name, err)
	default:
		t.Errorf("%s failed with an error that names no step: %v", op.name, err)
	}
}

// checkNoOrphans cross-checks Fly against the store. Every app with the
// prefix has a record. A running sandbox has exactly its recorded machine,
// started and on its recorded volume; a paused one has no machine; either has
// its recorded volume as its only live volume, except that a paused sandbox
// whose volume was lost has none and a snapshot to restore from. A sandbox
// marked error may be half there, but hold only machines carrying its
// metadata, so that Delete can finish it. No other status may be left.
func checkNoOrphans(t *testing.T, e *env) {
	t.Helper()
	ctx := t.Context()
	apps, err := e.client.ListApps(ctx, "personal")
	if err != nil {
		t.Fatal(err)
	}
	recs, err := e.store.ListSandboxes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	onFly := map[string]bool{}
	for _, app := range apps {
		if strings.HasPrefix(app.Name, e.m.Config().Prefix) {
			onFly[app.Name] = true
		}
	}
	for _, rec := range recs {
		checkRecord(t, e, rec, onFly[rec.App])
		delete(onFly, rec.App)
	}
	for app := range onFly {
		t.Errorf("orphaned app %s: no sandbox record", app)
	}
}

// checkRecord checks one record against what Fly holds for it.
func checkRecord(t *testing.T, e *env, rec store.Sandbox, hasApp bool) {
	t.Helper()
	if !hasApp {
		if rec.Status != sandstorm.StatusError {
			t.Errorf("sandbox %s (status %s) has no app %s", rec.Name, rec.Status, rec.App)
		}

		return
	}
	machines, err := e.client.ListMachines(t.Context(), rec.App, flyclient.ListMachinesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, mach := range machines {
		ids = append(ids, mach.ID+" "+mach.State)
	}
	vols := liveVolumes(t, e, rec.App)

	switch rec.Status {
	case sandstorm.StatusRunning:
		if len(machines) != 1 || machines[0].ID != rec.MachineID ||
			machines[0].State != flyclient.StateStarted {
			t.Errorf("running sandbox %s records machine %q; Fly has %v, want it alone and "+
				"started", rec.Name, rec.MachineID, ids)
		} else if mounts := machines[0].Config.Mounts; len(mounts) != 1 ||
			mounts[0].Volume != rec.VolumeID {
			t.Errorf("machine %s mounts %v, want recorded volume %s", rec.MachineID, mounts,
				rec.VolumeID)
		}
		if !slices.Equal(vols, []string{rec.VolumeID}) {
			t.Errorf("running sandbox %s records volume %s; Fly's live volumes are %v",
				rec.Name, rec.VolumeID, vols)
		}
	case sandstorm.StatusPaused:
		if len(machines) != 0 || rec.MachineID != "" {
			t.Errorf("paused sandbox %s records machine %q; Fly has %v, want none", rec.Name,
				rec.MachineID, ids)
		}
		lost := len(vols) == 0 && hasSnapshot(t, e, rec.Name)
		if !lost && !slices.Equal(vols, []string{rec.VolumeID}) {
			t.Errorf("paused sandbox %s records volume %s; Fly's live volumes are %v",
				rec.Name, rec.VolumeID, vols)
		}
	case sandstorm.StatusError:
		for _, mach := range machines {
			if mach.Config == nil || mach.Config.Metadata[sandstorm.MetaSandbox] != rec.Name {
				t.Errorf("sandbox %s in error holds machine %s it did not create", rec.Name,
					mach.ID)
			}
		}
		if len(machines) > 1 || len(vols) > 1 {
			t.Errorf("sandbox %s in error holds machines %v and live volumes %v", rec.Name,
				ids, vols)
		}
	default:
		t.Errorf("sandbox %s left %s", rec.Name, rec.Status)
	}
}

// liveVolumes returns the IDs of app's volumes that are not being destroyed.
func liveVolumes(t *testing.T, e *env, app string) []string {
	t.Helper()
	vols, err := e.client.ListVolumes(t.Context(), app)
	if err != nil {
		t.Fatal(err)
	}
	var live []string
	for _, v := range vols {
		if v.State != flyclient.VolumeDestroyed && v.State != "pending_destroy" {
			live = append(live, v.ID)
		}
	}
	slices.Sort(live)

	return live
}

// hasSnapshot reports whether the store holds a complete snapshot of name.
func hasSnapshot(t *testing.T, e *env, name string) bool {
	t.Helper()
	snaps, err := e.store.ListSnapshots(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}

	return slices.ContainsFunc(snaps, func(s store.Snapshot) bool {
		return s.Status == flyclient.SnapshotCreated
	})
}

// checkCreateUndone holds a failed create to what its undo promises: either
// everything it made was removed, record included, or the record is marked
// error, the error says sandbox_delete will finish, and Delete then does.
func checkCreateUndone(t *testing.T, e *env, createErr error) {
	t.Helper()
	if createErr == nil {
		return
	}
	rec, err := e.store.GetSandbox(t.Context(), "f")
	switch {
	case errors.Is(err, store.ErrNotFound):
		if !strings.Contains(createErr.Error(), "everything created before that step was removed") {
			t.Errorf("failed create removed its record, but its error says otherwise: %v",
				createErr)
		}
		checkNothingLeft(t, e)
	case err != nil:
		t.Fatal(err)
	default:
		if rec.Status != sandstorm.StatusError ||
			!strings.Contains(createErr.Error(), "sandbox_delete will finish") {
			t.Errorf("failed create left sandbox %s, err = %v; want it removed, or marked "+
				"error with an error saying sandbox_delete finishes", rec.Status, createErr)
		}
		if _, err := e.m.Delete(t.Context(), "f"); err != nil {
			t.Fatalf("delete after a create whose undo failed: %v", err)
		}
		checkNothingLeft(t, e)
	}
}

// checkDeleted checks that a delete removed everything or, if it failed, that
// a second delete does.
func checkDeleted(t *testing.T, e *env, deleteErr error) {
	t.Helper()
	if deleteErr != nil {
		if _, err := e.m.Delete(t.Context(), "f"); err != nil {
			t.Fatalf("delete again after a failed delete: %v", err)
		}
	}
	if _, err := e.m.Get(t.Context(), "f"); !errors.Is(err, sandstorm.ErrNotFound) {
		t.Errorf("after delete, get: %v, want not found", err)
	}
	checkNothingLeft(t, e)
}

// checkNothingLeft checks that flylocal holds no app and the store no record.
func checkNothingLeft(t *testing.T, e *env) {
	t.Helper()
	apps, err := e.client.ListApps(t.Context(), "personal")
	if err != nil {
		t.Fatal(err)
	}
	for _, app := range apps {
		t.Errorf("app %s left behind", app.Name)
	}
	recs, err := e.store.ListSandboxes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		t.Errorf("record of %s left behind, status %s", rec.Name, rec.Status)
	}
}

// checkData checks that the bytes createWithMarker wrote survived op. A
// failed pause or resume is tried again first, and must succeed now; a paused
// sandbox is resumed to read the file.
func checkData(t *testing.T, e *env, op string, opErr error) {
	t.Helper()
	ctx := t.Context()
	if opErr != nil {
		var err error
		switch op {
		case "pause":
			_, err = e.m.Pause(ctx, "f", nil)
		case "resume":
			_, err = e.m.Resume(ctx, sandstorm.ResumeRequest{Name: "f"})
		}
		if err != nil {
			t.Fatalf("%s again after a failed %s: %v", op, op, err)
		}
		checkNoOrphans(t, e)
	}
	sb, err := e.m.Get(ctx, "f")
	if err != nil {
		t.Fatalf("get after %s: %v", op, err)
	}
	if sb.Status == sandstorm.StatusPaused {
		if _, err := e.m.Resume(ctx, sandstorm.ResumeRequest{Name: "f"}); err != nil {
			t.Fatalf("resume after %s: %v", op, err)
		}
	}
	got := readAll(t, e, "f", marker, int64(len(markerContent))+1)
	if !bytes.Equal(got, markerContent) {
		t.Errorf("marker after %s differs: %d bytes, want the %d written", op, len(got),
			len(markerContent))
	}
}
