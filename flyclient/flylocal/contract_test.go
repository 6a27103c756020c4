package flylocal_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/longrun/sandstorm/flyclient"
	"github.com/longrun/sandstorm/flyclient/flylocal"
	"github.com/longrun/sandstorm/flyclient/flylocal/machine"
)

// The contract tests drive flylocal through flyclient over real HTTP: every
// call flyclient offers, against the handler flylocal serves, asserting what
// comes back rather than only that nothing failed.

const (
	contractToken = "test-token"
	contractOrg   = "personal"
	contractApp   = "contract-app"
	contractImage = "registry-1.docker.io/library/alpine:3.20"

	// waitLimit bounds every wait for a machine state in these tests.
	waitLimit = 15 * time.Second
)

// Route patterns as RequestCounts and Fault.Route name them.
const (
	routeGetMachine    = "GET /v1/apps/{app_name}/machines/{machine_id}"
	routeListMachines  = "GET /v1/apps/{app_name}/machines"
	routeCreateMachine = "POST /v1/apps/{app_name}/machines"
	routeWaitMachine   = "GET /v1/apps/{app_name}/machines/{machine_id}/wait"
	routeExec          = "POST /v1/apps/{app_name}/machines/{machine_id}/exec"
)

// contract is one flylocal server behind a real HTTP server and a flyclient
// pointed at it.
type contract struct {
	srv    *flylocal.Server
	ts     *httptest.Server
	client *flyclient.Client
	opts   flylocal.Options
	copts  []flyclient.Option
}

// newContract starts flylocal with opts (on a fresh state directory unless
// opts names one) and a client with copts added to clientOptions. The client
// does not pace itself: flylocal applies no rate limits unless a test asks.
func newContract(t *testing.T, opts flylocal.Options, copts ...flyclient.Option) *contract {
	t.Helper()
	if opts.StateDir == "" {
		opts.StateDir = t.TempDir()
	}
	c := &contract{
		opts:  opts,
		copts: append([]flyclient.Option{flyclient.WithoutPacing()}, copts...),
	}
	c.start(t)

	return c
}

// start opens the server on c.opts.StateDir and points a new client at it.
func (c *contract) start(t *testing.T) {
	t.Helper()
	c.srv = newServer(t, c.opts)
	c.ts = httptest.NewServer(c.srv)
	t.Cleanup(c.ts.Close)
	c.dial(c.ts.URL)
}

// dial points a new client, with c's options, at the server behind url.
func (c *contract) dial(url string) {
	c.client = flyclient.New(contractToken, append(clientOptions(url), c.copts...)...)
}

// restart closes the server as a process exit would and opens a new one on
// the same state directory, behind a new HTTP server.
func (c *contract) restart(t *testing.T) {
	t.Helper()
	c.ts.Close()
	if err := c.srv.Close(); err != nil {
		t.Fatalf("close flylocal: %v", err)
	}
	c.start(t)
}

// newServer opens a flylocal server that the test closes when it ends.
func newServer(t testing.TB, opts flylocal.Options) *flylocal.Server {
	t.Helper()
	srv, err := flylocal.New(opts)
	if err != nil {
		t.Fatalf("flylocal.New: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close flylocal: %v", err)
		}
	})

	return srv
}

// clientOptions points a client at the flylocal behind url, with short
// backoffs so that retries cost the tests little time.
func clientOptions(url string) []flyclient.Option {
	return []flyclient.Option{
		flyclient.WithBaseURL(url),
		flyclient.WithPrometheusURL(url + "/prometheus"),
		flyclient.WithBackoff(5*time.Millisecond, 50*time.Millisecond),
	}
}

// requireMachines skips a test that runs machine processes on a host that
// cannot run them.
func requireMachines(t testing.TB) {
	t.Helper()
	if err := machine.Supported(); err != nil {
		t.Skipf("machines cannot run here: %v", err)
	}
}

// apiError returns the *flyclient.APIError inside err, failing the test if
// there is none.
func apiError(t *testing.T, err error) *flyclient.APIError {
	t.Helper()
	var apiErr *flyclient.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("error %v (%T) holds no *flyclient.APIError", err, err)
	}

	return apiErr
}

func (c *contract) createApp(t *testing.T, name string) *flyclient.App {
	t.Helper()
	app, err := c.client.CreateApp(t.Context(), flyclient.CreateAppRequest{
		Name:    name,
		OrgSlug: contractOrg,
	})
	if err != nil {
		t.Fatalf("CreateApp: %v", err)
	}

	return app
}

func (c *contract) createMachine(
	t *testing.T,
	app string,
	req flyclient.CreateMachineRequest,
) *flyclient.Machine {
	t.Helper()
	if req.Config.Image == "" {
		req.Config.Image = contractImage
	}
	m, err := c.client.CreateMachine(t.Context(), app, req)
	if err != nil {
		t.Fatalf("CreateMachine: %v", err)
	}

	return m
}

// startMachine creates a machine and waits until it is started.
func (c *contract) startMachine(
	t *testing.T,
	app string,
	req flyclient.CreateMachineRequest,
) *flyclient.Machine {
	t.Helper()
	m := c.createMachine(t, app, req)
	c.waitState(t, app, m.ID, flyclient.StateStarted, "")

	return m
}

// idleMachine creates a machine that is never launched, for the calls that
// need no process.
func (c *contract) idleMachine(t *testing.T, app, name string) *flyclient.Machine {
	t.Helper()

	return c.createMachine(t, app, flyclient.CreateMachineRequest{Name: name, SkipLaunch: true})
}

// waitState waits for machine id to be in state, on instance version if set.
func (c *contract) waitState(t *testing.T, app, id, state, version string) {
	t.Helper()
	resp, err := c.client.WaitMachine(t.Context(), app, id, flyclient.WaitOptions{
		States:  []string{state},
		Version: version,
		Timeout: waitLimit,
	})
	if err != nil {
		t.Fatalf("WaitMachine %s: %v", state, err)
	}
	if !resp.OK || resp.State != state {
		t.Fatalf("WaitMachine %s answered %+v", state, resp)
	}
}

func (c *contract) createVolume(
	t *testing.T,
	app string,
	req flyclient.CreateVolumeRequest,
) *flyclient.Volume {
	t.Helper()
	v, err := c.client.CreateVolume(t.Context(), app, req)
	if err != nil {
		t.Fatalf("CreateVolume: %v", err)
	}

	return v
}

// exec runs argv in a machine and fails the test unless it exits 0.
func (c *contract) exec(t *testing.T, app, id string, argv ...string) string {
	t.Helper()
	res, err := c.client.Exec(t.Context(), app, id, flyclient.ExecRequest{Command: argv})
	if err != nil {
		t.Fatalf("Exec %q: %v", argv, err)
	}
	if res.ExitCode != 0 {
		t.Fatalf("Exec %q: exit %d, stderr %q", argv, res.ExitCode, res.Stderr)
	}

	return res.Stdout
}

// env returns the environment a command run in the machine sees.
func (c *contract) env(t *testing.T, app, id string) map[string]string {
	t.Helper()
	env := map[string]string{}
	for line := range strings.Lines(c.exec(t, app, id, "env")) {
		if k, v, ok := strings.Cut(strings.TrimSuffix(line, "\n"), "="); ok {
			env[k] = v
		}
	}

	return env
}

// count returns how many requests flylocal received for route.
func (c *contract) count(route string) int {
	return c.srv.RequestCounts()[route]
}

func appNames(apps []flyclient.App) []string {
	names := make([]string, 0, len(apps))
	for _, a := range apps {
		names = append(names, a.Name)
	}

	return names
}

func TestContract_Apps(t *testing.T) {
	t.Parallel()
	c := newContract(t, flylocal.Options{OrgSlug: "acme"})
	ctx := t.Context()

	created, err := c.client.CreateApp(ctx,
		flyclient.CreateAppRequest{Name: "alpha", OrgSlug: "acme"})
	if err != nil {
		t.Fatalf("CreateApp: %v", err)
	}
	if created.ID == "" || created.Name != "alpha" || created.Organization.Slug != "acme" {
		t.Errorf("CreateApp answered %+v", created)
	}
	got, err := c.client.GetApp(ctx, "alpha")
	if err != nil {
		t.Fatalf("GetApp: %v", err)
	}
	if got.ID != created.ID || got.Name != "alpha" || got.Organization.Slug != "acme" ||
		got.Network != "default" || got.MachineCount != 0 || got.VolumeCount != 0 {
		t.Errorf("GetApp answered %+v, org %+v", got, got.Organization)
	}
	c.createApp(t, "beta") // by the "personal" alias

	for _, org := range []string{"acme", "personal"} {
		apps, err := c.client.ListApps(ctx, org)
		if err != nil {
			t.Fatalf("ListApps %s: %v", org, err)
		}
		if names := appNames(apps); !slices.Equal(names, []string{"alpha", "beta"}) {
			t.Errorf("ListApps %s: %v", org, names)
		}
	}
	if _, err := c.client.ListApps(ctx, "someone-else"); !errors.Is(err, flyclient.ErrNotFound) {
		t.Errorf("ListApps of an unknown org: %v, want ErrNotFound", err)
	}

	t.Run("duplicate name", func(t *testing.T) {
		_, err := c.client.CreateApp(t.Context(),
			flyclient.CreateAppRequest{Name: "alpha", OrgSlug: "acme"})
		if !errors.Is(err, flyclient.ErrConflict) {
			t.Fatalf("second CreateApp: %v, want ErrConflict", err)
		}
		if ae := apiError(t, err); ae.StatusCode != http.StatusUnprocessableEntity ||
			ae.Code != "name_taken" {
			t.Errorf("second CreateApp: status %d code %q, want 422 name_taken",
				ae.StatusCode, ae.Code)
		}
	})

	t.Run("unknown app", func(t *testing.T) {
		_, err := c.client.GetApp(t.Context(), "no-such-app")
		if !errors.Is(err, flyclient.ErrNotFound) {
			t.Fatalf("GetApp: %v, want ErrNotFound", err)
		}
		ae := apiError(t, err)
		if ae.StatusCode != http.StatusNotFound || ae.Message != "app not found" ||
			ae.Method != http.MethodGet || ae.Path != "/v1/apps/no-such-app" {
			t.Errorf("GetApp error %+v", ae)
		}
		if !strings.HasSuffix(ae.RequestID, "-local") || len(ae.RequestID) < 20 {
			t.Errorf("request id %q, want flylocal's fly-request-id", ae.RequestID)
		}
		if !strings.Contains(err.Error(), ae.RequestID) {
			t.Errorf("error text %q does not name the request id", err)
		}
	})

	t.Run("delete removes machines and volumes", func(t *testing.T) {
		ctx := t.Context()
		vol := c.createVolume(t, "alpha", flyclient.CreateVolumeRequest{Name: "data"})
		m := c.createMachine(t, "alpha", flyclient.CreateMachineRequest{
			Name:       "doomed",
			SkipLaunch: true,
			Config: flyclient.MachineConfig{
				Mounts: []flyclient.MachineMount{{Volume: vol.ID, Path: "/data"}},
			},
		})
		before, err := c.client.GetApp(ctx, "alpha")
		if err != nil {
			t.Fatalf("GetApp: %v", err)
		}
		if before.MachineCount != 1 || before.VolumeCount != 1 {
			t.Errorf("before delete: %d machines, %d volumes",
				before.MachineCount, before.VolumeCount)
		}

		if err := c.client.DeleteApp(ctx, "alpha", true); err != nil {
			t.Fatalf("DeleteApp: %v", err)
		}
		if _, err := c.client.GetApp(ctx, "alpha"); !errors.Is(err, flyclient.ErrNotFound) {
			t.Errorf("GetApp after delete: %v, want ErrNotFound", err)
		}
		if err := c.client.DeleteApp(ctx, "alpha", true); !errors.Is(err, flyclient.ErrNotFound) {
			t.Errorf("second DeleteApp: %v, want ErrNotFound", err)
		}
		apps, err := c.client.ListApps(ctx, "acme")
		if err != nil {
			t.Fatalf("ListApps: %v", err)
		}
		if names := appNames(apps); !slices.Equal(names, []string{"beta"}) {
			t.Errorf("ListApps after delete: %v", names)
		}

		// A new app of the same name starts empty.
		c.createApp(t, "alpha")
		machines, err := c.client.ListMachines(ctx, "alpha",
			flyclient.ListMachinesOptions{IncludeDeleted: true})
		if err != nil || len(machines) != 0 {
			t.Errorf("machines of the new app: %v, %v", machines, err)
		}
		volumes, err := c.client.ListVolumes(ctx, "alpha")
		if err != nil || len(volumes) != 0 {
			t.Errorf("volumes of the new app: %v, %v", volumes, err)
		}
		_, err = c.client.GetMachine(ctx, "alpha", m.ID)
		wantIs(t, "GetMachine of the deleted machine", err, flyclient.ErrNotFound)
		_, err = c.client.GetVolume(ctx, "alpha", vol.ID)
		wantIs(t, "GetVolume of the deleted volume", err, flyclient.ErrNotFound)
	})
}

// wantIs fails the test unless err matches target.
func wantIs(t *testing.T, call string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: %v, want %v", call, err, target)
	}
}
