package sandstorm_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/longrun/sandstorm"
	"github.com/longrun/sandstorm/flyclient"
	"github.com/longrun/sandstorm/store"
)

// TestManager_Delete checks that Delete finishes a sandbox left half deleted
// or half created, refuses an app that holds a machine Sandstorm did not
// create and leaves it as it was, and says that a name that exists nowhere
// does not exist.
func TestManager_Delete(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// prepare leaves sandbox "h" in the state Delete starts from.
		prepare func(t *testing.T, e *env)
		// wantErr is the sentinel Delete's error must match, and wantMsg a
		// part of its text; a nil wantErr wants success.
		wantErr        error
		wantMsg        string
		wantAppWasGone bool
	}{
		{
			name: "record whose app is gone",
			prepare: func(t *testing.T, e *env) {
				// As an interrupted delete leaves it: the record says deleting
				// and Fly has already removed the app.
				e.create(t, "h")
				setStatus(t, e, "h", sandstorm.StatusDeleting)
				if err := e.client.DeleteApp(t.Context(), "t-h", true); err != nil {
					t.Fatal(err)
				}
			},
			wantAppWasGone: true,
		},
		{
			name: "app with its machine and no record",
			prepare: func(t *testing.T, e *env) {
				e.create(t, "h")
				if err := e.store.DeleteSandbox(t.Context(), "h"); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "empty app and no record",
			prepare: func(t *testing.T, e *env) {
				foreignApp(t, e, nil)
			},
		},
		{
			name: "app with a machine without metadata",
			prepare: func(t *testing.T, e *env) {
				foreignApp(t, e, map[string]string{})
			},
			wantErr: sandstorm.ErrState,
			wantMsg: "that Sandstorm did not create",
		},
		{
			name: "app with another sandbox's machine",
			prepare: func(t *testing.T, e *env) {
				foreignApp(t, e, map[string]string{sandstorm.MetaSandbox: "other"})
			},
			wantErr: sandstorm.ErrState,
			wantMsg: "that Sandstorm did not create",
		},
		{
			name: "app with its own and a foreign machine",
			prepare: func(t *testing.T, e *env) {
				e.create(t, "h")
				if err := e.store.DeleteSandbox(t.Context(), "h"); err != nil {
					t.Fatal(err)
				}
				foreignMachine(t, e, map[string]string{"owner": "someone else"})
			},
			wantErr: sandstorm.ErrState,
			wantMsg: "that Sandstorm did not create",
		},
		{
			name:    "nowhere",
			prepare: func(*testing.T, *env) {},
			wantErr: sandstorm.ErrNotFound,
			wantMsg: `no sandbox named "h"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			ctx := t.Context()
			tt.prepare(t, e)
			before := machinesOf(t, e, "t-h")

			res, err := e.m.Delete(ctx, "h")
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantMsg) {
					t.Fatalf("delete: err = %v, want %v saying %q", err, tt.wantErr, tt.wantMsg)
				}
				if got := machinesOf(t, e, "t-h"); !slices.Equal(got, before) {
					t.Errorf("refused delete changed the app's machines from %v to %v",
						before, got)
				}
				if _, err := e.store.GetSandbox(ctx, "h"); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("refused delete left a record: %v", err)
				}

				return
			}
			if err != nil {
				t.Fatalf("delete: %v", err)
			}
			if res.AppWasGone != tt.wantAppWasGone {
				t.Errorf("app was gone = %t, want %t", res.AppWasGone, tt.wantAppWasGone)
			}
			if _, err := e.m.Get(ctx, "h"); !errors.Is(err, sandstorm.ErrNotFound) {
				t.Errorf("get after delete: err = %v, want ErrNotFound", err)
			}
			checkNothingLeft(t, e)
		})
	}
}

// setStatus sets a sandbox's stored status directly.
func setStatus(t *testing.T, e *env, name, status string) {
	t.Helper()
	_, err := e.store.UpdateSandbox(t.Context(), name, func(sb *store.Sandbox) error {
		sb.Status = status
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// foreignApp creates app t-h on Fly behind Sandstorm's back, with a machine
// carrying metadata unless metadata is nil.
func foreignApp(t *testing.T, e *env, metadata map[string]string) {
	t.Helper()
	_, err := e.client.CreateApp(t.Context(), flyclient.CreateAppRequest{Name: "t-h",
		OrgSlug: e.m.Config().Org})
	if err != nil {
		t.Fatal(err)
	}
	if metadata != nil {
		foreignMachine(t, e, metadata)
	}
}

// foreignMachine starts a machine in app t-h that Sandstorm did not create.
func foreignMachine(t *testing.T, e *env, metadata map[string]string) {
	t.Helper()
	ctx := t.Context()
	mach, err := e.client.CreateMachine(ctx, "t-h", flyclient.CreateMachineRequest{
		Config: flyclient.MachineConfig{
			Image:    e.m.Config().Image,
			Init:     flyclient.MachineInit{Exec: []string{"/bin/sleep", "inf"}},
			Metadata: metadata,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.client.WaitMachine(ctx, "t-h", mach.ID, flyclient.WaitOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

// machinesOf returns app's machines as "id state", or nil when the app does
// not exist.
func machinesOf(t *testing.T, e *env, app string) []string {
	t.Helper()
	machines, err := e.client.ListMachines(t.Context(), app, flyclient.ListMachinesOptions{})
	if errors.Is(err, flyclient.ErrNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, mach := range machines {
		out = append(out, mach.ID+" "+mach.State)
	}

	return out
}
