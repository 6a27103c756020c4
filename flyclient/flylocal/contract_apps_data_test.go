package flylocal_test

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/longrun/sandstorm/flyclient"
	"github.com/longrun/sandstorm/flyclient/flylocal"
)

func ips(list []flyclient.IPAssignment) []string {
	out := make([]string, 0, len(list))
	for _, ip := range list {
		out = append(out, ip.IP)
	}

	return out
}

func TestContract_IPAssignments(t *testing.T) {
	t.Parallel()
	c := newContract(t, flylocal.Options{})
	ctx := t.Context()
	c.createApp(t, contractApp)

	v6, err := c.client.AssignIP(ctx, contractApp, flyclient.AssignIPRequest{Type: flyclient.IPv6})
	if err != nil {
		t.Fatalf("AssignIP v6: %v", err)
	}
	addr, perr := netip.ParseAddr(v6.IP)
	created, terr := time.Parse(time.RFC3339, v6.CreatedAt)
	if perr != nil || !addr.Is6() || addr.Is4In6() || v6.Shared || v6.Region != "global" ||
		terr != nil || time.Since(created) > time.Minute {
		t.Errorf("AssignIP v6 answered %+v", v6)
	}

	shared, err := c.client.AssignIP(ctx, contractApp,
		flyclient.AssignIPRequest{Type: flyclient.IPSharedV4})
	if err != nil {
		t.Fatalf("AssignIP shared_v4: %v", err)
	}
	if addr, err := netip.ParseAddr(shared.IP); err != nil || !addr.Is4() || !shared.Shared {
		t.Errorf("AssignIP shared_v4 answered %+v", shared)
	}
	again, err := c.client.AssignIP(ctx, contractApp,
		flyclient.AssignIPRequest{Type: flyclient.IPSharedV4})
	if err != nil || *again != *shared {
		t.Errorf("second AssignIP shared_v4 = %+v, %v; want the first one", again, err)
	}

	list, err := c.client.ListIPAssignments(ctx, contractApp)
	if err != nil {
		t.Fatalf("ListIPAssignments: %v", err)
	}
	if got, want := ips(list), []string{v6.IP, shared.IP}; !slices.Equal(got, want) {
		t.Errorf("ListIPAssignments = %v, want %v", got, want)
	}

	if err := c.client.DeleteIPAssignment(ctx, contractApp, v6.IP); err != nil {
		t.Fatalf("DeleteIPAssignment: %v", err)
	}
	list, err = c.client.ListIPAssignments(ctx, contractApp)
	if got := ips(list); err != nil || !slices.Equal(got, []string{shared.IP}) {
		t.Errorf("ListIPAssignments after delete = %v, %v", got, err)
	}
	err = c.client.DeleteIPAssignment(ctx, contractApp, v6.IP)
	wantIs(t, "second DeleteIPAssignment", err, flyclient.ErrNotFound)
}

func secretNames(list []flyclient.Secret) []string {
	out := make([]string, 0, len(list))
	for _, s := range list {
		out = append(out, s.Name)
	}

	return out
}

// TestContract_Secrets checks that secrets are listed by name only and reach
// a machine's environment at its next start, not before.
func TestContract_Secrets(t *testing.T) {
	t.Parallel()
	requireMachines(t)
	c := newContract(t, flylocal.Options{})
	ctx := t.Context()
	c.createApp(t, contractApp)
	cfg := flyclient.MachineConfig{Image: contractImage, Env: map[string]string{"PLAIN": "1"}}
	m := c.startMachine(t, contractApp, flyclient.CreateMachineRequest{Config: cfg})

	v1, err := c.client.SetSecrets(ctx, contractApp, map[string]string{
		"API_KEY": "s3cret",
		"DB_URL":  "postgres://db/app",
	})
	if err != nil || v1 == 0 {
		t.Fatalf("SetSecrets = %d, %v", v1, err)
	}
	list, err := c.client.ListSecrets(ctx, contractApp)
	if err != nil {
		t.Fatalf("ListSecrets: %v", err)
	}
	if names := secretNames(list); !slices.Equal(names, []string{"API_KEY", "DB_URL"}) {
		t.Errorf("ListSecrets names %v", names)
	}
	for _, s := range list {
		if s.Value != nil || s.Digest == "" || s.CreatedAt == "" {
			t.Errorf("listed secret %+v, want a digest and no value", s)
		}
	}
	if list[0].Digest == list[1].Digest {
		t.Errorf("two values share digest %q", list[0].Digest)
	}
	if env := c.env(t, contractApp, m.ID); env["API_KEY"] != "" || env["PLAIN"] != "1" {
		t.Errorf("running machine sees secrets before its next start: %v", env)
	}

	upd, err := c.client.UpdateMachine(ctx, contractApp, m.ID,
		flyclient.UpdateMachineRequest{Config: cfg})
	if err != nil {
		t.Fatalf("UpdateMachine: %v", err)
	}
	c.waitState(t, contractApp, m.ID, flyclient.StateStarted, upd.InstanceID)
	if env := c.env(t, contractApp, m.ID); env["API_KEY"] != "s3cret" ||
		env["DB_URL"] != "postgres://db/app" {
		t.Errorf("environment after update: %v", env)
	}

	v2, err := c.client.UnsetSecrets(ctx, contractApp, "DB_URL")
	if err != nil || v2 <= v1 {
		t.Fatalf("UnsetSecrets = %d, %v; want a version above %d", v2, err, v1)
	}
	list, err = c.client.ListSecrets(ctx, contractApp)
	if names := secretNames(list); err != nil || !slices.Equal(names, []string{"API_KEY"}) {
		t.Errorf("ListSecrets after unset = %v, %v", names, err)
	}
	if env := c.env(t, contractApp, m.ID); env["DB_URL"] == "" {
		t.Errorf("unset reached the running machine before its next start")
	}

	if err := c.client.RestartMachine(ctx, contractApp, m.ID); err != nil {
		t.Fatalf("RestartMachine: %v", err)
	}
	c.waitState(t, contractApp, m.ID, flyclient.StateStarted, "")
	if env := c.env(t, contractApp, m.ID); env["DB_URL"] != "" || env["API_KEY"] != "s3cret" {
		t.Errorf("environment after restart: %v", env)
	}
}
