package sandstorm_test

import (
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
)

// faultOp is an operation under fault injection: setup brings a fresh env to
// the state the operation starts from, and run performs it.
type faultOp struct {
	name  string
	setup func(t *testing.T, e *env)
	run   func(ctx context.Context, e *env) error
}

const marker = "/data/marker.txt"

var faultOps = []faultOp{
	{
		name:  "create",
		setup: func(*testing.T, *env) {},
		run: func(ctx context.Context, e *env) error {
			_, err := e.m.Create(ctx, sandstorm.CreateRequest{Name: "f", MemoryMB: 256, CPUs: 1,
				Env: map[string]string{"A": "b"}})
			return err
		},
	},
	{
		name:  "pause",
		setup: func(t *testing.T, e *env) { e.createWithMarker(t) },
		run: func(ctx context.Context, e *env) error {
			_, err := e.m.Pause(ctx, "f", nil)
			return err
		},
	},
	{
		name: "resume",
		setup: func(t *testing.T, e *env) {
			e.createWithMarker(t)
			if _, err := e.m.Pause(t.Context(), "f", nil); err != nil {
				t.Fatal(err)
			}
		},
		run: func(ctx context.Context, e *env) error {
			_, err := e.m.Resume(ctx, sandstorm.ResumeRequest{Name: "f"})
			return err
		},
	},
	{
		name: "resume from snapshot",
		setup: func(t *testing.T, e *env) {
			e.createWithMarker(t)
			if _, err := e.m.Pause(t.Context(), "f", nil); err != nil {
				t.Fatal(err)
			}
			// A lost volume forces the restore path.
			sb, _ := e.m.Get(t.Context(), "f")
			if _, err := e.client.DeleteVolume(t.Context(), sb.App, sb.VolumeID); err != nil {
				t.Fatal(err)
			}
		},
		run: func(ctx context.Context, e *env) error {
			_, err := e.m.Resume(ctx, sandstorm.ResumeRequest{Name: "f"})
			return err
		},
	},
	{
		name:  "delete",
		setup: func(t *testing.T, e *env) { e.createWithMarker(t) },
		run: func(ctx context.Context, e *env) error {
			_, err := e.m.Delete(ctx, "f")
			return err
		},
	},
}

var faultKinds = []struct {
	name  string
	fault flylocal.Fault
}{
	{"503", flylocal.Fault{Status: 503}},
	{"429", flylocal.Fault{Status: 429}},
	{"reset", flylocal.Fault{Reset: true}},
	{"hang", flylocal.Fault{Hang: true}},
}

func (e *env) createWithMarker(t *testing.T) {
	t.Helper()
	e.create(t, "f")
	_, err := e.m.WriteFile(t.Context(), sandstorm.WriteFileRequest{Sandbox: "f", Path: marker,
		Content: []byte("precious")})
	if err != nil {
		t.Fatal(err)
	}
}

// TestManager_Faults injects a 5xx, a 429, a connection reset and a hang into
// each Fly call that create, pause, resume and delete make, one call at a
// time. Each run must succeed through retries or fail cleanly, and afterwards
// flylocal must hold no orphaned app, volume or machine, and the volume's
// data must be intact.
func TestManager_Faults(t *testing.T) {
	t.Parallel()
	for _, op := range faultOps {
		routes := discoverRoutes(t, op)
		if len(routes) < 2 {
			t.Fatalf("%s made %d Fly calls; the discovery is broken", op.name, len(routes))
		}
		for _, route := range routes {
			for _, kind := range faultKinds {
				t.Run(fmt.Sprintf("%s/%s/%s", op.name, route, kind.name), func(t *testing.T) {
					t.Parallel()
					e := newEnvTimeout(t, 700*time.Millisecond)
					op.setup(t, e)
					f := kind.fault
					f.Route, f.Nth, f.Times = route, 1, 1
					remove := e.fly.InjectFault(f)
					ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
					err := op.run(ctx, e)
					cancel()
					remove()
					if err != nil {
						checkCleanFailure(t, err)
					}
					checkNoOrphans(t, e)
					checkData(t, e, op.name, err)
				})
			}
		}
	}
}

// discoverRoutes runs op once without faults and returns the routes it called.
func discoverRoutes(t *testing.T, op faultOp) []string {
	t.Helper()
	e := newEnv(t)
	op.setup(t, e)
	e.fly.ResetCounts()
	if err := op.run(t.Context(), e); err != nil {
		t.Fatalf("%s without faults: %v", op.name, err)
	}
	var routes []string
	for route := range e.fly.RequestCounts() {
		routes = append(routes, route)
	}
	slices.Sort(routes)

	return routes
}

// checkCleanFailure accepts errors that say what failed: a step error or a
// caller-facing error.
func checkCleanFailure(t *testing.T, err error) {
	t.Helper()
	var stepErr *sandstorm.StepError
	var userErr *sandstorm.Error
	if !errors.As(err, &stepErr) && !errors.As(err, &userErr) {
		t.Logf("failed with a plain error (allowed, but should name the operation): %v", err)
	}
	if strings.TrimSpace(err.Error()) == "" {
		t.Error("empty error message")
	}
}

// checkNoOrphans verifies that every app is a known sandbox holding at most one
// live machine and one live volume, and every record has its app.
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
	known := map[string]string{}
	for _, r := range recs {
		known[r.App] = r.Status
	}
	for _, app := range apps {
		if _, ok := known[app.Name]; !ok {
			t.Errorf("orphaned app %s: no sandbox record", app.Name)
			continue
		}
		machines, err := e.client.ListMachines(ctx, app.Name, flyclient.ListMachinesOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(machines) > 1 {
			t.Errorf("app %s holds %d machines", app.Name, len(machines))
		}
		vols, err := e.client.ListVolumes(ctx, app.Name)
		if err != nil {
			t.Fatal(err)
		}
		live := 0
		for _, v := range vols {
			if v.State != flyclient.VolumeDestroyed && v.State != "pending_destroy" {
				live++
			}
		}
		if live > 1 {
			t.Errorf("app %s holds %d live volumes", app.Name, live)
		}
		delete(known, app.Name)
	}
	for app, status := range known {
		if status != sandstorm.StatusError {
			t.Errorf("sandbox record for %s (status %s) has no app", app, status)
		}
	}
}

// checkData verifies the marker file survived whatever state the operation
// left, resuming a paused sandbox to read it; after a delete it checks that
// the sandbox is gone or can be deleted now.
func checkData(t *testing.T, e *env, op string, opErr error) {
	t.Helper()
	ctx := t.Context()
	if op == "create" {
		return
	}
	sb, err := e.m.Get(ctx, "f")
	if op == "delete" && opErr == nil {
		if !errors.Is(err, sandstorm.ErrNotFound) {
			t.Errorf("after delete, get: %v, want not found", err)
		}
		return
	}
	if err != nil {
		t.Fatalf("get after %s: %v", op, err)
	}
	if sb.Status == sandstorm.StatusPaused {
		if _, err := e.m.Resume(ctx, sandstorm.ResumeRequest{Name: "f"}); err != nil {
			t.Fatalf("resume after %s: %v", op, err)
		}
	}
	if op == "delete" {
		if _, err := e.m.Delete(ctx, "f"); err != nil {
			t.Fatalf("delete again after a failed delete: %v", err)
		}
		return
	}
	fc, err := e.m.ReadFile(ctx, sandstorm.ReadFileRequest{Sandbox: "f", Path: marker})
	if err != nil {
		t.Fatalf("read marker after %s: %v", op, err)
	}
	if string(fc.Content) != "precious" {
		t.Errorf("marker after %s = %q, want precious", op, fc.Content)
	}
}
