package flylocal_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/longrun/sandstorm/flyclient"
	"github.com/longrun/sandstorm/flyclient/flylocal"
)

func TestContract_Leases(t *testing.T) {
	t.Parallel()
	requireMachines(t)
	c := newContract(t, flylocal.Options{})
	ctx := t.Context()
	c.createApp(t, contractApp)
	m := c.startMachine(t, contractApp, flyclient.CreateMachineRequest{Name: "leased"})

	before := time.Now().Unix()
	lease, err := c.client.AcquireLease(ctx, contractApp, m.ID, 30*time.Second, "deploy")
	if err != nil {
		t.Fatalf("AcquireLease: %v", err)
	}
	if lease.Nonce == "" || lease.Description != "deploy" || lease.Version != m.InstanceID ||
		!strings.HasSuffix(lease.Owner, "@tokens.fly.io") {
		t.Errorf("AcquireLease answered %+v", lease)
	}
	if lease.ExpiresAt < before+29 || lease.ExpiresAt > time.Now().Unix()+30 {
		t.Errorf("lease expires at %d, want about %d", lease.ExpiresAt, before+30)
	}

	_, err = c.client.AcquireLease(ctx, contractApp, m.ID, time.Minute, "rival")
	wantIs(t, "second AcquireLease", err, flyclient.ErrConflict)
	if _, err := c.client.RefreshLease(ctx, contractApp, m.ID, "not-the-nonce",
		time.Minute); !errors.Is(err, flyclient.ErrConflict) {
		t.Errorf("RefreshLease with a wrong nonce: %v, want ErrConflict", err)
	}

	// Mutations without the nonce are refused and change nothing.
	err = c.client.StopMachine(ctx, contractApp, m.ID, flyclient.StopRequest{})
	wantIs(t, "StopMachine without the nonce", err, flyclient.ErrConflict)
	_, err = c.client.Exec(ctx, contractApp, m.ID, flyclient.ExecRequest{Command: []string{"true"}})
	if !errors.Is(err, flyclient.ErrConflict) {
		t.Errorf("Exec without the nonce: %v, want ErrConflict", err)
	}
	if got, err := c.client.GetMachine(ctx, contractApp, m.ID); err != nil ||
		got.State != flyclient.StateStarted {
		t.Errorf("machine after refused stop: %+v, %v", got, err)
	}

	got, err := c.client.GetLease(ctx, contractApp, m.ID)
	if err != nil {
		t.Fatalf("GetLease: %v", err)
	}
	if *got != *lease {
		t.Errorf("GetLease = %+v, want %+v", got, lease)
	}

	refreshed, err := c.client.RefreshLease(ctx, contractApp, m.ID, lease.Nonce, 2*time.Minute)
	if err != nil {
		t.Fatalf("RefreshLease: %v", err)
	}
	if refreshed.Nonce != lease.Nonce || refreshed.ExpiresAt < lease.ExpiresAt+89 {
		t.Errorf("RefreshLease answered %+v, want the nonce kept and expiry ~90s later than %d",
			refreshed, lease.ExpiresAt)
	}
	if got, err := c.client.GetLease(ctx, contractApp, m.ID); err != nil ||
		got.ExpiresAt != refreshed.ExpiresAt {
		t.Errorf("GetLease after refresh: %+v, %v", got, err)
	}

	res, err := c.client.Exec(ctx, contractApp, m.ID,
		flyclient.ExecRequest{Command: []string{"echo", "held"}}, flyclient.LeaseNonce(lease.Nonce))
	if err != nil || res.Stdout != "held\n" {
		t.Errorf("Exec with the nonce: %+v, %v", res, err)
	}
	err = c.client.StopMachine(ctx, contractApp, m.ID, flyclient.StopRequest{},
		flyclient.LeaseNonce(lease.Nonce))
	if err != nil {
		t.Fatalf("StopMachine with the nonce: %v", err)
	}
	c.waitState(t, contractApp, m.ID, flyclient.StateStopped, "")

	if err := c.client.ReleaseLease(ctx, contractApp, m.ID, lease.Nonce); err != nil {
		t.Fatalf("ReleaseLease: %v", err)
	}
	if _, err := c.client.GetLease(ctx, contractApp, m.ID); !errors.Is(err, flyclient.ErrNotFound) {
		t.Errorf("GetLease after release: %v, want ErrNotFound", err)
	}

	// Unguarded calls work again.
	if err := c.client.StartMachine(ctx, contractApp, m.ID); err != nil {
		t.Fatalf("StartMachine after release: %v", err)
	}
	c.waitState(t, contractApp, m.ID, flyclient.StateStarted, "")
	if out := c.exec(t, contractApp, m.ID, "echo", "free"); out != "free\n" {
		t.Errorf("Exec after release: %q", out)
	}
	if _, err := c.client.AcquireLease(ctx, contractApp, m.ID, 0, ""); err != nil {
		t.Errorf("AcquireLease after release: %v", err)
	}

	// A create with lease_ttl answers the new lease's nonce.
	fresh := c.createMachine(t, contractApp, flyclient.CreateMachineRequest{
		SkipLaunch: true,
		LeaseTTL:   30,
	})
	held, err := c.client.GetLease(ctx, contractApp, fresh.ID)
	if err != nil || fresh.Nonce == "" || held.Nonce != fresh.Nonce {
		t.Errorf("lease of a machine created with lease_ttl: %+v, %v; nonce %q",
			held, err, fresh.Nonce)
	}
}
