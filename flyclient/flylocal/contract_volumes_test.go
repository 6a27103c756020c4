package flylocal_test

import (
	"slices"
	"testing"
	"time"

	"github.com/longrun/sandstorm/flyclient"
	"github.com/longrun/sandstorm/flyclient/flylocal"
)

// snapshotPoll is how often tests read a snapshot's progress.
const snapshotPoll = 20 * time.Millisecond

func TestContract_Volumes(t *testing.T) {
	t.Parallel()
	c := newContract(t, flylocal.Options{})
	ctx := t.Context()
	c.createApp(t, contractApp)

	vol := c.createVolume(t, contractApp, flyclient.CreateVolumeRequest{Name: "data", SizeGB: 1})
	created, err := time.Parse(time.RFC3339, vol.CreatedAt)
	if vol.ID == "" || vol.Name != "data" || vol.State != flyclient.VolumeCreated ||
		vol.SizeGB != 1 || vol.Region != "lcl" || !vol.Encrypted || vol.FSType != "ext4" ||
		vol.AttachedMachineID != nil || vol.BytesTotal != 1<<30 || err != nil ||
		time.Since(created) > time.Minute {
		t.Errorf("CreateVolume answered %+v", vol)
	}

	got, err := c.client.GetVolume(ctx, contractApp, vol.ID)
	if err != nil || *got != *vol {
		t.Errorf("GetVolume = %+v, %v; want %+v", got, err, vol)
	}
	list, err := c.client.ListVolumes(ctx, contractApp)
	if err != nil || len(list) != 1 || list[0].ID != vol.ID {
		t.Errorf("ListVolumes = %+v, %v", list, err)
	}

	ext, err := c.client.ExtendVolume(ctx, contractApp, vol.ID, 3)
	if err != nil {
		t.Fatalf("ExtendVolume: %v", err)
	}
	if ext.Volume.ID != vol.ID || ext.Volume.SizeGB != 3 || ext.NeedsRestart {
		t.Errorf("ExtendVolume answered %+v", ext)
	}
	if got, err := c.client.GetVolume(ctx, contractApp, vol.ID); err != nil || got.SizeGB != 3 ||
		got.BytesTotal != 3<<30 {
		t.Errorf("GetVolume after extend: %+v, %v", got, err)
	}
	if _, err := c.client.ExtendVolume(ctx, contractApp, vol.ID, 2); err == nil {
		t.Errorf("ExtendVolume to a smaller size succeeded")
	}

	m := c.createMachine(t, contractApp, flyclient.CreateMachineRequest{
		SkipLaunch: true,
		Config: flyclient.MachineConfig{
			Mounts: []flyclient.MachineMount{{Volume: vol.ID, Path: "/data"}},
		},
	})
	if got, err := c.client.GetVolume(ctx, contractApp, vol.ID); err != nil ||
		got.AttachedMachineID == nil || *got.AttachedMachineID != m.ID {
		t.Errorf("GetVolume of a mounted volume: %+v, %v", got, err)
	}
	_, err = c.client.DeleteVolume(ctx, contractApp, vol.ID)
	wantIs(t, "DeleteVolume while attached", err, flyclient.ErrConflict)

	if err := c.client.DeleteMachine(ctx, contractApp, m.ID, true); err != nil {
		t.Fatalf("DeleteMachine: %v", err)
	}
	deleted, err := c.client.DeleteVolume(ctx, contractApp, vol.ID)
	if err != nil {
		t.Fatalf("DeleteVolume: %v", err)
	}
	if deleted.ID != vol.ID || deleted.State != flyclient.VolumeDestroyed {
		t.Errorf("DeleteVolume answered %+v", deleted)
	}
	// Fly lists volumes on their way out; the state tells.
	list, err = c.client.ListVolumes(ctx, contractApp)
	if err != nil || len(list) != 1 || list[0].State != flyclient.VolumeDestroyed {
		t.Errorf("ListVolumes after delete = %+v, %v", list, err)
	}
	_, err = c.client.DeleteVolume(ctx, contractApp, vol.ID)
	wantIs(t, "second DeleteVolume", err, flyclient.ErrNotFound)
}

// waitSnapshot polls the snapshots of vol until the one at index has ended,
// and returns it with every status it was seen in.
func (c *contract) waitSnapshot(
	t *testing.T,
	app, vol string,
	index int,
) (flyclient.VolumeSnapshot, []string) {
	t.Helper()
	var seen []string
	deadline := time.Now().Add(waitLimit)
	for time.Now().Before(deadline) {
		list, err := c.client.ListSnapshots(t.Context(), app, vol)
		if err != nil {
			t.Fatalf("ListSnapshots: %v", err)
		}
		if len(list) > index {
			snap := list[index]
			if len(seen) == 0 || seen[len(seen)-1] != snap.Status {
				seen = append(seen, snap.Status)
			}
			if snap.Status == flyclient.SnapshotCreated || snap.Status == flyclient.SnapshotFailed {
				return snap, seen
			}
		}
		time.Sleep(snapshotPoll)
	}
	t.Fatalf("snapshot %d of %s did not end within %v; seen %v", index, vol, waitLimit, seen)

	return flyclient.VolumeSnapshot{}, nil
}

func TestContract_Snapshots(t *testing.T) {
	t.Parallel()
	requireMachines(t)
	c := newContract(t, flylocal.Options{SnapshotDuration: 200 * time.Millisecond})
	ctx := t.Context()
	c.createApp(t, contractApp)
	vol := c.createVolume(t, contractApp, flyclient.CreateVolumeRequest{Name: "data"})
	mount := []flyclient.MachineMount{{Volume: vol.ID, Path: "/data"}}
	writer := c.startMachine(t, contractApp, flyclient.CreateMachineRequest{
		Config: flyclient.MachineConfig{Mounts: mount},
	})
	const payload = "bytes that must survive a snapshot\x01\n"
	c.exec(t, contractApp, writer.ID, "sh", "-c", `printf '%s' "$1" > /data/payload`, "sh", payload)

	if _, err := c.client.CreateSnapshot(ctx, contractApp, vol.ID); err != nil {
		t.Fatalf("CreateSnapshot: %v", err)
	}
	_, err := c.client.CreateSnapshot(ctx, contractApp, vol.ID)
	wantIs(t, "CreateSnapshot while one runs", err, flyclient.ErrConflict)
	snap, seen := c.waitSnapshot(t, contractApp, vol.ID, 0)
	if snap.Status != flyclient.SnapshotCreated || snap.ID == "" || snap.Size <= 0 ||
		snap.Digest == "" || snap.CreatedAt == "" || snap.VolumeSize != 1<<30 {
		t.Errorf("snapshot %+v", snap)
	}
	if !slices.Contains([]string{flyclient.SnapshotWaiting, flyclient.SnapshotRunning}, seen[0]) {
		t.Errorf("snapshot statuses %v, want it seen in progress first", seen)
	}

	restored := c.createVolume(t, contractApp, flyclient.CreateVolumeRequest{
		Name:       "restored",
		SnapshotID: &snap.ID,
	})
	if restored.State != flyclient.VolumeRestoring {
		t.Errorf("restored volume answered state %q, want restoring", restored.State)
	}
	reader := c.startMachine(t, contractApp, flyclient.CreateMachineRequest{
		Config: flyclient.MachineConfig{
			Mounts: []flyclient.MachineMount{{Volume: restored.ID, Path: "/data"}},
		},
	})
	if got := c.exec(t, contractApp, reader.ID, "cat", "/data/payload"); got != payload {
		t.Errorf("restored payload %q, want %q", got, payload)
	}
	if got, err := c.client.GetVolume(ctx, contractApp, restored.ID); err != nil ||
		got.State != flyclient.VolumeCreated || got.BytesUsed < int64(len(payload)) {
		t.Errorf("restored volume %+v, %v", got, err)
	}
}

func TestContract_SnapshotFailure(t *testing.T) {
	t.Parallel()
	c := newContract(t, flylocal.Options{SnapshotDuration: 100 * time.Millisecond})
	c.createApp(t, contractApp)
	vol := c.createVolume(t, contractApp, flyclient.CreateVolumeRequest{Name: "data"})

	c.srv.FailSnapshots(1)
	if _, err := c.client.CreateSnapshot(t.Context(), contractApp, vol.ID); err != nil {
		t.Fatalf("CreateSnapshot: %v", err)
	}
	snap, seen := c.waitSnapshot(t, contractApp, vol.ID, 0)
	if snap.Status != flyclient.SnapshotFailed || snap.CreatedAt != "" {
		t.Errorf("injected failure: snapshot %+v (seen %v), want failed", snap, seen)
	}

	// Only the one snapshot fails.
	if _, err := c.client.CreateSnapshot(t.Context(), contractApp, vol.ID); err != nil {
		t.Fatalf("second CreateSnapshot: %v", err)
	}
	snap, _ = c.waitSnapshot(t, contractApp, vol.ID, 1)
	if snap.Status != flyclient.SnapshotCreated {
		t.Errorf("second snapshot %+v, want created", snap)
	}
}
