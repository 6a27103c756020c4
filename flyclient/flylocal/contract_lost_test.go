package flylocal_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/longrun/sandstorm/flyclient"
	"github.com/longrun/sandstorm/flyclient/flylocal"
)

// lostAnswer passes requests to h, except that once armed, the first request
// matching method and path is served and then its connection dropped before
// the answer: the call took effect, and the client cannot know.
type lostAnswer struct {
	h http.Handler

	mu           sync.Mutex
	method, path string
	fired        bool
}

// arm makes the next request of method to path lose its answer.
func (l *lostAnswer) arm(method, path string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.method, l.path, l.fired = method, path, false
}

// take reports whether r is the request to lose, and disarms if so.
func (l *lostAnswer) take(r *http.Request) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fired || l.method == "" || r.Method != l.method || r.URL.Path != l.path {
		return false
	}
	l.fired = true

	return true
}

// lost reports whether an answer was lost since arm.
func (l *lostAnswer) lost() bool {
	l.mu.Lock()
	defer l.mu.Unlock()

	return l.fired
}

func (l *lostAnswer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !l.take(r) {
		l.h.ServeHTTP(w, r)

		return
	}
	l.h.ServeHTTP(httptest.NewRecorder(), r)
	panic(http.ErrAbortHandler)
}

// loseAnswers puts a lostAnswer in front of c's server and points c's client
// at it.
func (c *contract) loseAnswers(t *testing.T) *lostAnswer {
	t.Helper()
	lost := &lostAnswer{h: c.srv}
	ts := httptest.NewServer(lost)
	t.Cleanup(ts.Close)
	c.dial(ts.URL)

	return lost
}

// lostFixture is what each lost-answer case starts from: an app with an idle
// machine and a volume.
type lostFixture struct {
	c   *contract
	m   *flyclient.Machine
	vol *flyclient.Volume
}

// TestContract_LostAnswers drops the answer of a call that flylocal carried
// out, as a reset or timeout after the request landed would, and checks the
// client's recovery: creates find their result instead of making a second,
// idempotent calls are sent again, and calls that are neither are not.
func TestContract_LostAnswers(t *testing.T) {
	t.Parallel()
	appPath := "/v1/apps/" + contractApp
	tests := []struct {
		name   string
		method string
		path   func(f *lostFixture) string
		route  string // flylocal's pattern for the lost call
		sent   int    // how often the client should send it
		call   func(t *testing.T, f *lostFixture) error
		check  func(t *testing.T, f *lostFixture, err error)
	}{
		{
			name:   "create app finds the app",
			method: http.MethodPost,
			path:   func(*lostFixture) string { return "/v1/apps" },
			route:  "POST /v1/apps",
			sent:   1,
			call: func(t *testing.T, f *lostFixture) error {
				_, err := f.c.client.CreateApp(t.Context(),
					flyclient.CreateAppRequest{Name: "second-app", OrgSlug: contractOrg})

				return err
			},
			check: func(t *testing.T, f *lostFixture, err error) {
				apps, lerr := f.c.client.ListApps(t.Context(), contractOrg)
				if err != nil || lerr != nil || len(apps) != 2 {
					t.Errorf("CreateApp: %v; apps %v, %v", err, appNames(apps), lerr)
				}
			},
		},
		{
			name:   "create machine finds the machine by name",
			method: http.MethodPost,
			path:   func(*lostFixture) string { return appPath + "/machines" },
			route:  routeCreateMachine,
			sent:   1,
			call: func(t *testing.T, f *lostFixture) error {
				_, err := f.c.client.CreateMachine(t.Context(), contractApp,
					flyclient.CreateMachineRequest{
						Name:       "second",
						SkipLaunch: true,
						Config:     flyclient.MachineConfig{Image: contractImage},
					})

				return err
			},
			check: func(t *testing.T, f *lostFixture, err error) {
				list, lerr := f.c.client.ListMachines(t.Context(), contractApp,
					flyclient.ListMachinesOptions{})
				if names := machineNames(list); err != nil || lerr != nil || len(names) != 2 {
					t.Errorf("CreateMachine: %v; machines %v, %v", err, names, lerr)
				}
			},
		},
		{
			name:   "create volume finds the volume",
			method: http.MethodPost,
			path:   func(*lostFixture) string { return appPath + "/volumes" },
			route:  "POST /v1/apps/{app_name}/volumes",
			sent:   1,
			call: func(t *testing.T, f *lostFixture) error {
				_, err := f.c.client.CreateVolume(t.Context(), contractApp,
					flyclient.CreateVolumeRequest{Name: "second"})

				return err
			},
			check: func(t *testing.T, f *lostFixture, err error) {
				list, lerr := f.c.client.ListVolumes(t.Context(), contractApp)
				if err != nil || lerr != nil || len(list) != 2 {
					t.Errorf("CreateVolume: %v; %d volumes, %v", err, len(list), lerr)
				}
			},
		},
		{
			name:   "assign ip finds the address",
			method: http.MethodPost,
			path:   func(*lostFixture) string { return appPath + "/ip_assignments" },
			route:  "POST /v1/apps/{app_name}/ip_assignments",
			sent:   1,
			call: func(t *testing.T, f *lostFixture) error {
				_, err := f.c.client.AssignIP(t.Context(), contractApp,
					flyclient.AssignIPRequest{Type: flyclient.IPv6})

				return err
			},
			check: func(t *testing.T, f *lostFixture, err error) {
				list, lerr := f.c.client.ListIPAssignments(t.Context(), contractApp)
				if err != nil || lerr != nil || len(list) != 1 {
					t.Errorf("AssignIP: %v; addresses %v, %v", err, ips(list), lerr)
				}
			},
		},
		{
			name:   "create snapshot finds the snapshot",
			method: http.MethodPost,
			path: func(f *lostFixture) string {
				return appPath + "/volumes/" + f.vol.ID + "/snapshots"
			},
			route: "POST /v1/apps/{app_name}/volumes/{volume_id}/snapshots",
			sent:  1,
			call: func(t *testing.T, f *lostFixture) error {
				_, err := f.c.client.CreateSnapshot(t.Context(), contractApp, f.vol.ID)
				return err
			},
			check: func(t *testing.T, f *lostFixture, err error) {
				list, lerr := f.c.client.ListSnapshots(t.Context(), contractApp, f.vol.ID)
				if err != nil || lerr != nil || len(list) != 1 {
					t.Errorf("CreateSnapshot: %v; snapshots %+v, %v", err, list, lerr)
				}
			},
		},
		{
			name:   "delete machine is sent again and gone counts as done",
			method: http.MethodDelete,
			path:   func(f *lostFixture) string { return appPath + "/machines/" + f.m.ID },
			route:  "DELETE /v1/apps/{app_name}/machines/{machine_id}",
			sent:   2,
			call: func(t *testing.T, f *lostFixture) error {
				return f.c.client.DeleteMachine(t.Context(), contractApp, f.m.ID, true)
			},
			check: func(t *testing.T, f *lostFixture, err error) {
				got, gerr := f.c.client.GetMachine(t.Context(), contractApp, f.m.ID)
				if err != nil || gerr != nil || got.State != flyclient.StateDestroyed {
					t.Errorf("DeleteMachine: %v; machine %+v, %v", err, got, gerr)
				}
			},
		},
		{
			name:   "delete app is sent again and gone counts as done",
			method: http.MethodDelete,
			path:   func(*lostFixture) string { return appPath },
			route:  "DELETE /v1/apps/{app_name}",
			sent:   2,
			call: func(t *testing.T, f *lostFixture) error {
				return f.c.client.DeleteApp(t.Context(), contractApp, true)
			},
			check: func(t *testing.T, f *lostFixture, err error) {
				_, gerr := f.c.client.GetApp(t.Context(), contractApp)
				if err != nil || !errors.Is(gerr, flyclient.ErrNotFound) {
					t.Errorf("DeleteApp: %v; GetApp after: %v", err, gerr)
				}
			},
		},
		{
			name:   "delete volume is sent again and reports not found",
			method: http.MethodDelete,
			path:   func(f *lostFixture) string { return appPath + "/volumes/" + f.vol.ID },
			route:  "DELETE /v1/apps/{app_name}/volumes/{volume_id}",
			sent:   2,
			call: func(t *testing.T, f *lostFixture) error {
				_, err := f.c.client.DeleteVolume(t.Context(), contractApp, f.vol.ID)

				return err
			},
			check: func(t *testing.T, f *lostFixture, err error) {
				// As DeleteVolume documents: the retry finds nothing to delete.
				got, gerr := f.c.client.GetVolume(t.Context(), contractApp, f.vol.ID)
				if !errors.Is(err, flyclient.ErrNotFound) || gerr != nil ||
					got.State != flyclient.VolumeDestroyed {
					t.Errorf("DeleteVolume: %v; volume %+v, %v", err, got, gerr)
				}
			},
		},
		{
			name:   "update machine is sent again",
			method: http.MethodPost,
			path:   func(f *lostFixture) string { return appPath + "/machines/" + f.m.ID },
			route:  "POST /v1/apps/{app_name}/machines/{machine_id}",
			sent:   2,
			call: func(t *testing.T, f *lostFixture) error {
				_, err := f.c.client.UpdateMachine(t.Context(), contractApp, f.m.ID,
					flyclient.UpdateMachineRequest{
						SkipLaunch: true,
						Config: flyclient.MachineConfig{
							Image: contractImage,
							Env:   map[string]string{"V": "2"},
						},
					})

				return err
			},
			check: func(t *testing.T, f *lostFixture, err error) {
				got, gerr := f.c.client.GetMachine(t.Context(), contractApp, f.m.ID)
				if err != nil || gerr != nil || got.Config.Env["V"] != "2" {
					t.Errorf("UpdateMachine: %v; machine %+v, %v", err, got, gerr)
				}
			},
		},
		{
			name:   "set secrets is sent again",
			method: http.MethodPost,
			path:   func(*lostFixture) string { return appPath + "/secrets" },
			route:  "POST /v1/apps/{app_name}/secrets",
			sent:   2,
			call: func(t *testing.T, f *lostFixture) error {
				_, err := f.c.client.SetSecrets(t.Context(), contractApp,
					map[string]string{"K": "v"})

				return err
			},
			check: func(t *testing.T, f *lostFixture, err error) {
				list, lerr := f.c.client.ListSecrets(t.Context(), contractApp)
				if err != nil || lerr != nil || len(list) != 1 || list[0].Name != "K" {
					t.Errorf("SetSecrets: %v; secrets %+v, %v", err, list, lerr)
				}
			},
		},
		{
			name:   "acquire lease is not sent again",
			method: http.MethodPost,
			path: func(f *lostFixture) string {
				return appPath + "/machines/" + f.m.ID + "/lease"
			},
			route: "POST /v1/apps/{app_name}/machines/{machine_id}/lease",
			sent:  1,
			call: func(t *testing.T, f *lostFixture) error {
				_, err := f.c.client.AcquireLease(t.Context(), contractApp, f.m.ID,
					time.Minute, "")

				return err
			},
			check: func(t *testing.T, f *lostFixture, err error) {
				// The lease landed, but its nonce is lost: the client says so.
				_, gerr := f.c.client.GetLease(t.Context(), contractApp, f.m.ID)
				if err == nil || gerr != nil {
					t.Errorf("AcquireLease: %v, want an error; GetLease after: %v", err, gerr)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newContract(t, flylocal.Options{SnapshotDuration: 50 * time.Millisecond})
			lost := c.loseAnswers(t)
			c.createApp(t, contractApp)
			f := &lostFixture{
				c:   c,
				m:   c.idleMachine(t, contractApp, "first"),
				vol: c.createVolume(t, contractApp, flyclient.CreateVolumeRequest{Name: "data"}),
			}
			c.srv.ResetCounts()

			lost.arm(tt.method, tt.path(f))
			err := tt.call(t, f)
			if !lost.lost() {
				t.Fatalf("no answer was lost")
			}
			if n := c.count(tt.route); n != tt.sent {
				t.Errorf("%s received %d times, want %d", tt.route, n, tt.sent)
			}
			tt.check(t, f, err)
		})
	}
}
