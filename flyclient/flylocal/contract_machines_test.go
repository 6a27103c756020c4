package flylocal_test

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/longrun/sandstorm/flyclient"
	"github.com/longrun/sandstorm/flyclient/flylocal"
)

// fullConfig is a machine config that sets every part flyclient models and
// flylocal keeps, mounting vol.
func fullConfig(vol string) flyclient.MachineConfig {
	autostart := true

	return flyclient.MachineConfig{
		Image: contractImage,
		Env:   map[string]string{"GREETING": "hello", "PLAIN": "1"},
		Init:  flyclient.MachineInit{SwapSizeMB: 512},
		Guest: &flyclient.MachineGuest{CPUKind: "shared", CPUs: 1, MemoryMB: 256},
		Mounts: []flyclient.MachineMount{
			{Volume: vol, Path: "/data"},
		},
		Services: []flyclient.MachineService{{
			Protocol:     "tcp",
			InternalPort: 8080,
			Ports: []flyclient.MachinePort{
				{Port: 80, Handlers: []string{"http"}, ForceHTTPS: true},
				{Port: 443, Handlers: []string{"tls", "http"}},
			},
			Autostart: &autostart,
			Autostop:  "stop",
		}},
		Metadata: map[string]string{"role": "worker"},
		Restart:  &flyclient.MachineRestart{Policy: "on-failure", MaxRetries: 3},
		StopConfig: &flyclient.StopConfig{
			Signal:  "SIGTERM",
			Timeout: "2s",
		},
	}
}

func machineNames(list []flyclient.Machine) []string {
	names := make([]string, 0, len(list))
	for _, m := range list {
		names = append(names, m.Name)
	}

	return names
}

func TestContract_Machines(t *testing.T) {
	t.Parallel()
	requireMachines(t)
	c := newContract(t, flylocal.Options{})
	ctx := t.Context()
	c.createApp(t, contractApp)
	vol := c.createVolume(t, contractApp,
		flyclient.CreateVolumeRequest{Name: "data", Region: "ams"})

	cfg := fullConfig(vol.ID)
	m, err := c.client.CreateMachine(ctx, contractApp, flyclient.CreateMachineRequest{
		Name:   "worker-1",
		Region: "ams",
		Config: cfg,
	})
	if err != nil {
		t.Fatalf("CreateMachine: %v", err)
	}
	if m.State != flyclient.StateCreated || m.Name != "worker-1" || m.Region != "ams" ||
		m.ID == "" || m.InstanceID == "" {
		t.Errorf("CreateMachine answered %+v", m)
	}
	if m.Config == nil || !reflect.DeepEqual(*m.Config, cfg) {
		t.Errorf("CreateMachine config\n got %+v\nwant %+v", m.Config, cfg)
	}

	waited, err := c.client.WaitMachine(ctx, contractApp, m.ID, flyclient.WaitOptions{
		Timeout: waitLimit,
	})
	if err != nil {
		t.Fatalf("WaitMachine started: %v", err)
	}
	if !waited.OK || waited.State != flyclient.StateStarted || waited.Version != m.InstanceID {
		t.Errorf("WaitMachine answered %+v, want started on %s", waited, m.InstanceID)
	}

	got, err := c.client.GetMachine(ctx, contractApp, m.ID)
	if err != nil {
		t.Fatalf("GetMachine: %v", err)
	}
	if got.State != flyclient.StateStarted || got.InstanceID != m.InstanceID ||
		got.PrivateIP == "" || got.Config == nil || !reflect.DeepEqual(*got.Config, cfg) {
		t.Errorf("GetMachine answered %+v", got)
	}
	if ref := got.ImageRef; ref == nil || ref.Registry != "registry-1.docker.io" ||
		ref.Repository != "library/alpine" || ref.Tag != "3.20" {
		t.Errorf("image_ref %+v", ref)
	}
	if v, err := c.client.GetVolume(ctx, contractApp, vol.ID); err != nil ||
		v.AttachedMachineID == nil || *v.AttachedMachineID != m.ID {
		t.Errorf("volume after create: %+v, %v; want attached to %s", v, err, m.ID)
	}
	if env := c.env(t, contractApp, m.ID); env["GREETING"] != "hello" ||
		env["FLY_MACHINE_ID"] != m.ID || env["FLY_REGION"] != "ams" {
		t.Errorf("environment %v", env)
	}

	t.Run("list filters", func(t *testing.T) {
		idle := c.createMachine(t, contractApp, flyclient.CreateMachineRequest{
			Name:       "idle",
			SkipLaunch: true,
			Config:     flyclient.MachineConfig{Metadata: map[string]string{"role": "spare"}},
		})
		tests := []struct {
			name string
			opts flyclient.ListMachinesOptions
			want []string
		}{
			{name: "all", want: []string{"worker-1", "idle"}},
			{
				name: "metadata worker",
				opts: flyclient.ListMachinesOptions{Metadata: map[string]string{"role": "worker"}},
				want: []string{"worker-1"},
			},
			{
				name: "metadata spare",
				opts: flyclient.ListMachinesOptions{Metadata: map[string]string{"role": "spare"}},
				want: []string{"idle"},
			},
			{
				name: "metadata unmatched",
				opts: flyclient.ListMachinesOptions{Metadata: map[string]string{"role": "web"}},
				want: []string{},
			},
			{
				name: "state started",
				opts: flyclient.ListMachinesOptions{States: []string{flyclient.StateStarted}},
				want: []string{"worker-1"},
			},
			{
				name: "state created",
				opts: flyclient.ListMachinesOptions{States: []string{flyclient.StateCreated}},
				want: []string{"idle"},
			},
			{
				name: "either state",
				opts: flyclient.ListMachinesOptions{
					States: []string{flyclient.StateCreated, flyclient.StateStarted},
				},
				want: []string{"worker-1", "idle"},
			},
			{
				name: "region",
				opts: flyclient.ListMachinesOptions{Region: "ams"},
				want: []string{"worker-1"},
			},
		}
		for _, tt := range tests {
			list, err := c.client.ListMachines(t.Context(), contractApp, tt.opts)
			if err != nil {
				t.Fatalf("%s: ListMachines: %v", tt.name, err)
			}
			if names := machineNames(list); !slices.Equal(names, tt.want) {
				t.Errorf("%s: ListMachines = %v, want %v", tt.name, names, tt.want)
			}
		}

		summary, err := c.client.ListMachines(t.Context(), contractApp,
			flyclient.ListMachinesOptions{Summary: true})
		if err != nil || len(summary) != 2 || summary[0].Config != nil ||
			summary[0].State != flyclient.StateStarted {
			t.Errorf("ListMachines Summary = %+v, %v; want no config", summary, err)
		}

		if err := c.client.DeleteMachine(t.Context(), contractApp, idle.ID, false); err != nil {
			t.Fatalf("DeleteMachine of a machine never launched: %v", err)
		}
		live, err := c.client.ListMachines(t.Context(), contractApp,
			flyclient.ListMachinesOptions{})
		if err != nil || !slices.Equal(machineNames(live), []string{"worker-1"}) {
			t.Errorf("ListMachines after delete: %v, %v", machineNames(live), err)
		}
		all, err := c.client.ListMachines(t.Context(), contractApp,
			flyclient.ListMachinesOptions{IncludeDeleted: true})
		if err != nil || len(all) != 2 || all[1].ID != idle.ID ||
			all[1].State != flyclient.StateDestroyed {
			t.Errorf("ListMachines IncludeDeleted: %+v, %v", all, err)
		}
	})

	t.Run("update", func(t *testing.T) {
		next := fullConfig(vol.ID)
		next.Env["GREETING"] = "bonjour"
		upd, err := c.client.UpdateMachine(t.Context(), contractApp, m.ID,
			flyclient.UpdateMachineRequest{Config: next, CurrentVersion: m.InstanceID})
		if err != nil {
			t.Fatalf("UpdateMachine: %v", err)
		}
		if upd.InstanceID == "" || upd.InstanceID == m.InstanceID {
			t.Errorf("UpdateMachine kept instance_id %q", upd.InstanceID)
		}
		if upd.Config == nil || upd.Config.Env["GREETING"] != "bonjour" {
			t.Errorf("UpdateMachine config %+v", upd.Config)
		}
		c.waitState(t, contractApp, m.ID, flyclient.StateStarted, upd.InstanceID)
		if env := c.env(t, contractApp, m.ID); env["GREETING"] != "bonjour" ||
			env["FLY_MACHINE_VERSION"] != upd.InstanceID {
			t.Errorf("environment after update %v", env)
		}

		// The old version is stale now.
		_, err = c.client.UpdateMachine(t.Context(), contractApp, m.ID,
			flyclient.UpdateMachineRequest{Config: next, CurrentVersion: m.InstanceID})
		if !errors.Is(err, flyclient.ErrPrecondition) {
			t.Errorf("UpdateMachine with a stale version: %v, want ErrPrecondition", err)
		}
	})

	t.Run("stop start restart", func(t *testing.T) {
		ctx := t.Context()
		err := c.client.StopMachine(ctx, contractApp, m.ID,
			flyclient.StopRequest{Signal: "SIGTERM", Timeout: "1s"})
		if err != nil {
			t.Fatalf("StopMachine: %v", err)
		}
		c.waitState(t, contractApp, m.ID, flyclient.StateStopped, "")
		if got, err := c.client.GetMachine(ctx, contractApp, m.ID); err != nil ||
			got.State != flyclient.StateStopped {
			t.Errorf("GetMachine after stop: %+v, %v", got, err)
		}
		_, err = c.client.Exec(ctx, contractApp, m.ID,
			flyclient.ExecRequest{Command: []string{"true"}})
		if !errors.Is(err, flyclient.ErrPrecondition) {
			t.Errorf("Exec on a stopped machine: %v, want ErrPrecondition", err)
		}

		if err := c.client.StartMachine(ctx, contractApp, m.ID); err != nil {
			t.Fatalf("StartMachine: %v", err)
		}
		c.waitState(t, contractApp, m.ID, flyclient.StateStarted, "")
		err = c.client.StartMachine(ctx, contractApp, m.ID)
		wantIs(t, "StartMachine of a started machine", err, flyclient.ErrPrecondition)

		before, err := c.client.GetMachine(ctx, contractApp, m.ID)
		if err != nil {
			t.Fatalf("GetMachine: %v", err)
		}
		if err := c.client.RestartMachine(ctx, contractApp, m.ID); err != nil {
			t.Fatalf("RestartMachine: %v", err)
		}
		c.waitState(t, contractApp, m.ID, flyclient.StateStarted, "")
		after, err := c.client.GetMachine(ctx, contractApp, m.ID)
		if err != nil {
			t.Fatalf("GetMachine: %v", err)
		}
		restarted := slices.ContainsFunc(after.Events, func(e flyclient.MachineEvent) bool {
			return e.Type == "restart"
		})
		if !restarted || after.InstanceID != before.InstanceID ||
			len(after.Events) <= len(before.Events) {
			t.Errorf("after restart: events %+v, instance %s (was %s)",
				after.Events, after.InstanceID, before.InstanceID)
		}
		if out := c.exec(t, contractApp, m.ID, "echo", "back"); out != "back\n" {
			t.Errorf("Exec after restart: %q", out)
		}
	})

	t.Run("delete", func(t *testing.T) {
		ctx := t.Context()
		err := c.client.DeleteMachine(ctx, contractApp, m.ID, false)
		if !errors.Is(err, flyclient.ErrPrecondition) {
			t.Errorf("DeleteMachine of a running machine without force: %v", err)
		}
		if err := c.client.DeleteMachine(ctx, contractApp, m.ID, true); err != nil {
			t.Fatalf("DeleteMachine force: %v", err)
		}
		got, err := c.client.GetMachine(ctx, contractApp, m.ID)
		if err != nil || got.State != flyclient.StateDestroyed {
			t.Errorf("GetMachine after delete: %+v, %v", got, err)
		}
		if v, err := c.client.GetVolume(ctx, contractApp, vol.ID); err != nil ||
			v.AttachedMachineID != nil {
			t.Errorf("volume after delete: %+v, %v; want detached", v, err)
		}
		err = c.client.StartMachine(ctx, contractApp, m.ID)
		if !errors.Is(err, flyclient.ErrNotFound) {
			t.Errorf("StartMachine of a destroyed machine: %v, want ErrNotFound", err)
		}
	})
}

// TestContract_WaitTimeout checks that WaitMachine keeps calling on 408 and
// gives up at its own deadline, long before Fly's 60 s per call. The first
// wait call is answered 408 at once (as a server that does not hold calls
// would), so the client must call again; the second is held by flylocal until
// its timeout.
func TestContract_WaitTimeout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		timeout time.Duration // WaitOptions.Timeout
		ctxTime time.Duration // the context's deadline, if set
	}{
		{name: "total timeout", timeout: 2500 * time.Millisecond},
		{
			name:    "over 60s bounded by ctx",
			timeout: 90 * time.Second,
			ctxTime: 2500 * time.Millisecond,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newContract(t, flylocal.Options{})
			c.createApp(t, contractApp)
			m := c.idleMachine(t, contractApp, "never-started")
			c.srv.InjectFault(flylocal.Fault{
				Route:  routeWaitMachine,
				Status: http.StatusRequestTimeout,
				Body:   `{"error":"deadline_exceeded: injected"}`,
				Times:  1,
			})
			ctx := t.Context()
			if tt.ctxTime > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.ctxTime)
				defer cancel()
			}

			start := time.Now()
			_, err := c.client.WaitMachine(ctx, contractApp, m.ID, flyclient.WaitOptions{
				States:  []string{flyclient.StateStarted},
				Timeout: tt.timeout,
			})
			took := time.Since(start)

			if !errors.Is(err, flyclient.ErrTimeout) {
				t.Fatalf("WaitMachine: %v, want ErrTimeout", err)
			}
			if ae := apiError(t, err); ae.StatusCode != http.StatusRequestTimeout ||
				!strings.Contains(ae.Message, "currently created") {
				t.Errorf("last answer %d %q, want flylocal's own 408", ae.StatusCode, ae.Message)
			}
			if took < 1500*time.Millisecond || took > 4*time.Second {
				t.Errorf("WaitMachine gave up after %v, want about 2-2.5s", took)
			}
			if n := c.count(routeWaitMachine); n != 2 {
				t.Errorf("%d wait calls, want 2 (one 408 at once, one held)", n)
			}
		})
	}
}

func TestContract_Exec(t *testing.T) {
	t.Parallel()
	requireMachines(t)
	c := newContract(t, flylocal.Options{})
	c.createApp(t, contractApp)
	m := c.startMachine(t, contractApp, flyclient.CreateMachineRequest{
		Config: flyclient.MachineConfig{Env: map[string]string{"GREETING": "hi"}},
	})

	// Runs before the parallel cases, so that it alone has called exec.
	t.Run("timeout", func(t *testing.T) {
		start := time.Now()
		_, err := c.client.Exec(t.Context(), contractApp, m.ID,
			flyclient.ExecRequest{Command: []string{"sleep", "30"}, Timeout: 1})
		if !errors.Is(err, flyclient.ErrTimeout) {
			t.Fatalf("Exec past its timeout: %v, want ErrTimeout", err)
		}
		if took := time.Since(start); took < time.Second || took > 5*time.Second {
			t.Errorf("Exec answered after %v, want about 1s", took)
		}
		// An exec may have run, so the client must not send it again.
		if n := c.count(routeExec); n != 1 {
			t.Errorf("%d exec calls, want 1", n)
		}
	})

	tests := []struct {
		name string
		req  flyclient.ExecRequest
		want flyclient.ExecResponse
	}{
		{
			name: "argv without a shell",
			req:  flyclient.ExecRequest{Command: []string{"echo", "$GREETING", "a;b", "c d"}},
			want: flyclient.ExecResponse{Stdout: "$GREETING a;b c d\n"},
		},
		{
			name: "environment",
			req:  flyclient.ExecRequest{Command: []string{"sh", "-c", `echo "$GREETING"`}},
			want: flyclient.ExecResponse{Stdout: "hi\n"},
		},
		{
			name: "stdout stderr and exit code",
			req: flyclient.ExecRequest{
				Command: []string{"sh", "-c", "echo out; echo err >&2; exit 3"},
			},
			want: flyclient.ExecResponse{Stdout: "out\n", Stderr: "err\n", ExitCode: 3},
		},
		{
			name: "stdin",
			req: flyclient.ExecRequest{
				Command: []string{"tr", "a-z", "A-Z"},
				Stdin:   "piped input\n",
			},
			want: flyclient.ExecResponse{Stdout: "PIPED INPUT\n"},
		},
		{
			name: "signal",
			req:  flyclient.ExecRequest{Command: []string{"sh", "-c", "kill -9 $$"}},
			want: flyclient.ExecResponse{ExitCode: 137, ExitSignal: 9},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := c.client.Exec(t.Context(), contractApp, m.ID, tt.req)
			if err != nil {
				t.Fatalf("Exec: %v", err)
			}
			if *got != tt.want {
				t.Errorf("Exec = %+v, want %+v", *got, tt.want)
			}
		})
	}

}

func TestContract_Metadata(t *testing.T) {
	t.Parallel()
	c := newContract(t, flylocal.Options{})
	ctx := t.Context()
	c.createApp(t, contractApp)
	m := c.createMachine(t, contractApp, flyclient.CreateMachineRequest{
		SkipLaunch: true,
		Config:     flyclient.MachineConfig{Metadata: map[string]string{"role": "worker"}},
	})

	for k, v := range map[string]string{"owner": "alice", "tier": "gold"} {
		if err := c.client.SetMetadata(ctx, contractApp, m.ID, k, v); err != nil {
			t.Fatalf("SetMetadata %s: %v", k, err)
		}
	}
	want := map[string]string{"role": "worker", "owner": "alice", "tier": "gold"}
	md, err := c.client.GetMetadata(ctx, contractApp, m.ID)
	if err != nil || !maps.Equal(md, want) {
		t.Errorf("GetMetadata = %v, %v; want %v", md, err, want)
	}
	got, err := c.client.GetMachine(ctx, contractApp, m.ID)
	if err != nil {
		t.Fatalf("GetMachine: %v", err)
	}
	if !maps.Equal(got.Config.Metadata, want) || got.InstanceID != m.InstanceID {
		t.Errorf("machine after SetMetadata: metadata %v, instance %s (was %s)",
			got.Config.Metadata, got.InstanceID, m.InstanceID)
	}
	list, err := c.client.ListMachines(ctx, contractApp,
		flyclient.ListMachinesOptions{Metadata: map[string]string{"owner": "alice"}})
	if err != nil || len(list) != 1 || list[0].ID != m.ID {
		t.Errorf("ListMachines by the new key: %v, %v", machineNames(list), err)
	}

	if err := c.client.DeleteMetadata(ctx, contractApp, m.ID, "owner"); err != nil {
		t.Fatalf("DeleteMetadata: %v", err)
	}
	if err := c.client.DeleteMetadata(ctx, contractApp, m.ID, "never-set"); err != nil {
		t.Errorf("DeleteMetadata of a key never set: %v", err)
	}
	delete(want, "owner")
	md, err = c.client.GetMetadata(ctx, contractApp, m.ID)
	if err != nil || !maps.Equal(md, want) {
		t.Errorf("GetMetadata after delete = %v, %v; want %v", md, err, want)
	}
	_, err = c.client.GetMetadata(ctx, contractApp, "0000000000dead")
	wantIs(t, "GetMetadata of an unknown machine", err, flyclient.ErrNotFound)
}
