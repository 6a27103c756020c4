package sandstorm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/longrun/sandstorm/flyclient"
	"github.com/longrun/sandstorm/store"
)

// ResumeRequest brings a paused sandbox back. SnapshotID picks a snapshot (the
// latest when empty); the other fields override the spec from now on.
type ResumeRequest struct {
	Name       string
	SnapshotID string
	Env        map[string]string
	MemoryMB   int
	CPUs       int
	SwapSizeMB int
	Progress   ProgressFunc
}

// Resume recreates a paused sandbox's machine. When the volume is intact and
// no older snapshot is asked for, the machine goes straight onto it; otherwise
// a volume is restored from the snapshot, the machine created on it, and the
// old volume removed only after that succeeded.
func (m *Manager) Resume(ctx context.Context, r ResumeRequest) (sb *Sandbox, err error) {
	start := m.now()
	args := map[string]any{"snapshot_id": r.SnapshotID, "env_names": mergeEnvNames(nil, r.Env, nil),
		"memory_mb": r.MemoryMB, "cpus": r.CPUs, "swap_size_mb": r.SwapSizeMB}
	defer func() { m.audit("resume", r.Name, args, start, err) }()
	if err := validateEnv(r.Env); err != nil {
		return nil, err
	}
	unlock := m.lock(r.Name)
	defer unlock()
	rec, err := m.record(ctx, r.Name)
	if err != nil {
		return nil, err
	}
	if rec.Status != StatusPaused {
		if rec.Status == StatusRunning && r.SnapshotID == "" {
			return m.Get(ctx, r.Name)
		}

		return nil, stateError("Only a paused sandbox can be resumed; pause it first "+
			"to restore a snapshot.", "sandbox %q is %s", r.Name, rec.Status)
	}
	spec, err := m.resumeSpec(rec, r)
	if err != nil {
		return nil, err
	}
	snap, fast, err := m.resumePlan(ctx, rec, r.SnapshotID)
	if err != nil {
		return nil, err
	}

	if len(r.Env) > 0 {
		if _, err := m.fly.SetSecrets(ctx, rec.App, r.Env); err != nil {
			return nil, &StepError{Op: "resume", Step: "set env secrets", Err: err,
				Outcome: "the sandbox is still paused"}
		}
	}
	if err := m.saveSpec(ctx, r.Name, spec); err != nil {
		return nil, err
	}
	res := &resumption{m: m, rec: rec, spec: spec, progress: r.Progress}
	if fast {
		err = res.onVolume(ctx, rec.VolumeID)
	} else {
		err = res.fromSnapshot(ctx, snap)
	}
	if err != nil {
		return nil, err
	}
	if err := m.setStatus(ctx, r.Name, StatusRunning, "resumed"); err != nil {
		return nil, err
	}
	m.enterPhase(ctx, r.Name, store.PhaseActive, "resumed by sandbox_resume")

	return m.started(ctx, r.Name)
}

// resumeSpec applies the request's overrides to the stored spec.
func (m *Manager) resumeSpec(rec store.Sandbox, r ResumeRequest) (Spec, error) {
	var spec Spec
	if err := json.Unmarshal(rec.Spec, &spec); err != nil {
		return spec, fmt.Errorf("decode spec of %s: %w", rec.Name, err)
	}
	if r.MemoryMB != 0 {
		spec.MemoryMB = r.MemoryMB
	}
	if r.CPUs != 0 {
		spec.CPUs = r.CPUs
	}
	if r.SwapSizeMB != 0 {
		spec.SwapSizeMB = r.SwapSizeMB
	}
	spec.EnvNames = mergeEnvNames(spec.EnvNames, r.Env, nil)

	return spec, validateGuest(spec.CPUs, spec.MemoryMB, spec.SwapSizeMB)
}

// resumePlan picks the snapshot to resume from and whether the intact volume
// can be used directly.
func (m *Manager) resumePlan(ctx context.Context, rec store.Sandbox, snapshotID string,
) (*Snapshot, bool, error) {
	snaps, err := m.store.ListSnapshots(ctx, rec.Name)
	if err != nil {
		return nil, false, fmt.Errorf("list snapshots of %s: %w", rec.Name, err)
	}
	var latest, chosen *Snapshot
	for _, s := range snaps {
		if s.Status != flyclient.SnapshotCreated {
			continue
		}
		if latest == nil {
			latest = snapshotFromStore(s)
		}
		if s.ID == snapshotID {
			chosen = snapshotFromStore(s)
		}
	}
	if snapshotID != "" && chosen == nil {
		return nil, false, invalidf("Call sandbox_get to see the sandbox's snapshots, or "+
			"omit snapshot_id to use the latest.", "sandbox %q has no complete snapshot %q",
			rec.Name, snapshotID)
	}
	if chosen == nil {
		chosen = latest
	}
	wantsOlder := snapshotID != "" && latest != nil && snapshotID != latest.ID
	if !wantsOlder && rec.VolumeID != "" {
		vol, err := m.fly.GetVolume(ctx, rec.App, rec.VolumeID)
		if err == nil && vol.State == flyclient.VolumeCreated && vol.AttachedMachineID == nil {
			return chosen, true, nil
		}
		if err != nil && !errors.Is(err, flyclient.ErrNotFound) {
			return nil, false, fmt.Errorf("look up volume %s: %w", rec.VolumeID, err)
		}
	}
	if chosen == nil {
		return nil, false, stateError("Delete the sandbox and create it again.",
			"sandbox %q has lost its volume and has no snapshot to restore", rec.Name)
	}

	return chosen, false, nil
}

func (m *Manager) saveSpec(ctx context.Context, name string, spec Spec) error {
	raw, err := json.Marshal(spec)
	if err != nil {
		return fmt.Errorf("encode spec: %w", err)
	}
	_, err = m.store.UpdateSandbox(ctx, name, func(sb *store.Sandbox) error {
		sb.Spec = raw
		return nil
	})
	if err != nil {
		return fmt.Errorf("save spec of %s: %w", name, err)
	}

	return nil
}

// resumption carries one Resume through its steps.
type resumption struct {
	m        *Manager
	rec      store.Sandbox
	spec     Spec
	progress ProgressFunc
}

// onVolume starts a machine on an existing volume.
func (r *resumption) onVolume(ctx context.Context, volumeID string) error {
	r.progress.report(0, 2, "creating machine on volume "+volumeID)
	machineID, err := r.startMachine(ctx, volumeID, 1, 2)
	if err != nil {
		return err
	}

	return r.m.recordIDs(ctx, r.rec.Name, machineID, volumeID)
}

// fromSnapshot restores a new volume from snap, starts a machine on it, and
// then removes the old volume. On failure the new volume goes and the old
// one stays.
func (r *resumption) fromSnapshot(ctx context.Context, snap *Snapshot) error {
	r.progress.report(0, 3, "restoring a volume from snapshot "+snap.ID)
	vol, err := r.m.createVolume(ctx, r.rec.App, r.spec, &snap.ID)
	if err != nil {
		return r.fail("restore volume", err, "")
	}
	r.progress.report(1, 3, "creating machine on volume "+vol.ID)
	machineID, err := r.startMachine(ctx, vol.ID, 2, 3)
	if err != nil {
		return r.fail("start machine", err, vol.ID)
	}
	if err := r.m.recordIDs(ctx, r.rec.Name, machineID, vol.ID); err != nil {
		return err
	}
	if old := r.rec.VolumeID; old != "" && old != vol.ID {
		_, err := r.m.fly.DeleteVolume(ctx, r.rec.App, old)
		if err != nil && !errors.Is(err, flyclient.ErrNotFound) {
			r.m.log.Warn("remove replaced volume", "sandbox", r.rec.Name, "volume", old,
				"error", err)
		}
	}

	return nil
}

// startMachine creates the machine on volumeID and waits until it runs. A
// machine that fails to start is removed again.
func (r *resumption) startMachine(ctx context.Context, volumeID string, done, total int,
) (string, error) {
	mach, err := r.m.fly.CreateMachine(ctx, r.rec.App, flyclient.CreateMachineRequest{
		Name:   r.rec.Name,
		Region: r.spec.Region,
		Config: r.m.machineConfig(r.rec.Name, r.spec, volumeID),
	})
	if err != nil {
		return "", fmt.Errorf("create machine: %w", err)
	}
	r.progress.report(done, total, "waiting for machine "+mach.ID+" to start")
	if err := r.m.waitStarted(ctx, r.rec.App, mach.ID, mach.InstanceID); err != nil {
		cctx, cancel := cleanupContext()
		defer cancel()
		if dErr := r.m.fly.DeleteMachine(cctx, r.rec.App, mach.ID, true); dErr != nil &&
			!errors.Is(dErr, flyclient.ErrNotFound) {
			r.m.log.Warn("remove machine that failed to start", "machine_id", mach.ID,
				"error", dErr)
		}

		return "", err
	}

	return mach.ID, nil
}

// fail undoes a restore: it removes the new volume, if any, and reports the step.
func (r *resumption) fail(step string, err error, newVolume string) error {
	outcome := "the sandbox is still paused and its volume untouched"
	if newVolume != "" {
		ctx, cancel := cleanupContext()
		defer cancel()
		if err := r.m.removeVolume(ctx, r.rec.App, newVolume); err != nil {
			outcome += fmt.Sprintf("; removing the restored volume %s failed (%v)",
				newVolume, err)
		}
	}

	return &StepError{Op: "resume", Step: step, Err: err, Outcome: outcome}
}

// removeVolume deletes a volume, waiting out Fly's detach after a machine delete.
func (m *Manager) removeVolume(ctx context.Context, app, id string) error {
	return m.poll(ctx, m.cfg.PollInterval, 2*time.Second, func() (bool, error) {
		_, err := m.fly.DeleteVolume(ctx, app, id)
		switch {
		case err == nil || errors.Is(err, flyclient.ErrNotFound):
			return true, nil
		case errors.Is(err, flyclient.ErrConflict):
			return false, nil
		default:
			return false, err
		}
	})
}
