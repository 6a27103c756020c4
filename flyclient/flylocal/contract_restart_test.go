package flylocal_test

import (
	"testing"
	"time"

	"github.com/longrun/sandstorm/flyclient"
	"github.com/longrun/sandstorm/flyclient/flylocal"
)

// TestContract_Restart closes flylocal as a process exit would and opens a
// new one on the same state directory: everything the client made is still
// there, and the started machine is started again.
func TestContract_Restart(t *testing.T) {
	t.Parallel()
	requireMachines(t)
	c := newContract(t, flylocal.Options{SnapshotDuration: 100 * time.Millisecond})
	c.createApp(t, contractApp)
	vol := c.createVolume(t, contractApp, flyclient.CreateVolumeRequest{Name: "data"})
	if _, err := c.client.SetSecrets(t.Context(), contractApp,
		map[string]string{"TOKEN": "kept"}); err != nil {
		t.Fatalf("SetSecrets: %v", err)
	}
	m := c.startMachine(t, contractApp, flyclient.CreateMachineRequest{
		Name: "survivor",
		Config: flyclient.MachineConfig{
			Mounts: []flyclient.MachineMount{{Volume: vol.ID, Path: "/data"}},
		},
	})
	const payload = "written before the restart\n"
	c.exec(t, contractApp, m.ID, "sh", "-c", `printf '%s' "$1" > /data/payload`, "sh", payload)
	if _, err := c.client.CreateSnapshot(t.Context(), contractApp, vol.ID); err != nil {
		t.Fatalf("CreateSnapshot: %v", err)
	}
	snap, _ := c.waitSnapshot(t, contractApp, vol.ID, 0)

	c.restart(t)
	ctx := t.Context()

	if app, err := c.client.GetApp(ctx, contractApp); err != nil || app.MachineCount != 1 ||
		app.VolumeCount != 1 {
		t.Errorf("GetApp after restart: %+v, %v", app, err)
	}
	if got, err := c.client.GetVolume(ctx, contractApp, vol.ID); err != nil ||
		got.State != flyclient.VolumeCreated || got.AttachedMachineID == nil ||
		*got.AttachedMachineID != m.ID {
		t.Errorf("GetVolume after restart: %+v, %v", got, err)
	}
	snaps, err := c.client.ListSnapshots(ctx, contractApp, vol.ID)
	if err != nil || len(snaps) != 1 || snaps[0].ID != snap.ID ||
		snaps[0].Status != flyclient.SnapshotCreated || snaps[0].Digest != snap.Digest {
		t.Errorf("ListSnapshots after restart = %+v, %v; want [%+v]", snaps, err, snap)
	}
	secrets, err := c.client.ListSecrets(ctx, contractApp)
	if err != nil || len(secrets) != 1 || secrets[0].Name != "TOKEN" {
		t.Errorf("ListSecrets after restart = %+v, %v", secrets, err)
	}

	c.waitState(t, contractApp, m.ID, flyclient.StateStarted, "")
	if got := c.exec(t, contractApp, m.ID, "cat", "/data/payload"); got != payload {
		t.Errorf("volume after restart holds %q, want %q", got, payload)
	}
	if env := c.env(t, contractApp, m.ID); env["TOKEN"] != "kept" {
		t.Errorf("secret TOKEN after restart: %q", env["TOKEN"])
	}
}
