package sandstorm

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/longrun/sandstorm/flyclient"
	"github.com/longrun/sandstorm/store"
)

// DeleteResult reports what Delete removed.
type DeleteResult struct {
	Name string `json:"name"`
	App  string `json:"app"`
	// AppWasGone is true when the Fly app had already been removed and only the
	// record was left, as after an interrupted delete.
	AppWasGone bool `json:"app_was_gone"`
}

// Delete removes a sandbox's machine, volume, snapshots and app, and its record.
// It finishes a sandbox left half-deleted, and refuses to touch an app that
// holds machines it did not create.
func (m *Manager) Delete(ctx context.Context, name string) (*DeleteResult, error) {
	return m.deleteBy(ctx, store.ActorUser, name)
}

// deleteBy is Delete on behalf of actor.
func (m *Manager) deleteBy(ctx context.Context, actor, name string,
) (res *DeleteResult, err error) {
	start := m.now()
	defer func() { m.auditAs(actor, "delete", name, nil, start, err) }()
	if err := m.validateName(name); err != nil {
		return nil, err
	}
	unlock := m.lock(name)
	defer unlock()

	app := m.appName(name)
	_, recErr := m.store.GetSandbox(ctx, name)
	switch {
	case errors.Is(recErr, store.ErrNotFound):
		if err := m.checkOwned(ctx, name, app); err != nil {
			return nil, err
		}
	case recErr != nil:
		return nil, fmt.Errorf("read sandbox %s: %w", name, recErr)
	default:
		if err := m.setStatusBy(ctx, actor, name, StatusDeleting, "delete"); err != nil {
			return nil, err
		}
	}

	res = &DeleteResult{Name: name, App: app}
	gone, err := m.deleteAppReport(ctx, app)
	if err != nil {
		_ = m.setStatus(ctx, name, StatusError, "delete failed: "+err.Error())
		return nil, &StepError{Op: "delete", Step: "delete app", Err: err,
			Outcome: "the sandbox is marked error; call sandbox_delete again to finish"}
	}
	res.AppWasGone = gone
	if err := m.store.DeleteSandbox(ctx, name); err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("forget sandbox %s: %w", name, err)
	}
	m.notify(Change{Sandbox: name, Kind: ChangeDeleted})

	return res, nil
}

// checkOwned succeeds when app exists without a record and everything in it
// carries this sandbox's metadata; it is how a half-created or half-deleted
// sandbox is proven ours before removal.
func (m *Manager) checkOwned(ctx context.Context, name, app string) error {
	if _, err := m.fly.GetApp(ctx, app); errors.Is(err, flyclient.ErrNotFound) {
		return notFound(name)
	} else if err != nil {
		return fmt.Errorf("look up app %s: %w", app, err)
	}
	machines, err := m.fly.ListMachines(ctx, app, flyclient.ListMachinesOptions{})
	if err != nil {
		return fmt.Errorf("list machines of %s: %w", app, err)
	}
	for _, mach := range machines {
		if mach.Config == nil || mach.Config.Metadata[MetaSandbox] != name {
			return &Error{Kind: ErrState,
				Message: fmt.Sprintf("app %s has machine %s that Sandstorm did not create", app, mach.ID),
				Advice:  "Remove it with Fly's own tools if it is yours to remove."}
		}
	}

	return nil
}

// deleteApp removes an app and everything in it; an app already gone is fine.
func (m *Manager) deleteApp(ctx context.Context, app string) error {
	_, err := m.deleteAppReport(ctx, app)
	return err
}

// deleteAppReport removes an app and waits until Fly no longer has it. It
// reports whether the app was already gone.
func (m *Manager) deleteAppReport(ctx context.Context, app string) (bool, error) {
	err := m.fly.DeleteApp(ctx, app, true)
	if errors.Is(err, flyclient.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("delete app %s: %w", app, err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err = m.poll(wctx, m.cfg.PollInterval, time.Second, func() (bool, error) {
		_, err := m.fly.GetApp(wctx, app)
		if errors.Is(err, flyclient.ErrNotFound) {
			return true, nil
		}

		return false, err
	})
	if err != nil {
		return false, fmt.Errorf("wait for app %s to go: %w", app, err)
	}

	return false, nil
}

// PauseResult reports the snapshot a pause took or found.
type PauseResult struct {
	Sandbox       *Sandbox  `json:"sandbox"`
	Snapshot      *Snapshot `json:"snapshot"`
	AlreadyPaused bool      `json:"already_paused"`
}

// Pause snapshots the sandbox's volume, waits until the snapshot is complete,
// and only then deletes the machine. If the snapshot fails the machine is left
// as it was. Pausing a paused sandbox returns its latest snapshot.
func (m *Manager) Pause(ctx context.Context, name string, progress ProgressFunc,
) (res *PauseResult, err error) {
	start := m.now()
	defer func() { m.audit("pause", name, nil, start, err) }()
	unlock := m.lock(name)
	defer unlock()

	return m.pause(ctx, name, pauseOptions{progress: progress, actor: store.ActorUser,
		phase: func(lc *store.Lifecycle) { resetPhase(lc, store.PhasePaused, m.now()) }})
}

// pauseOptions adjust a pause: who asked, progress reports, the nonce of a
// lease held on the machine, a check of the record that may still call it
// off, and how the lifecycle state changes once the machine is gone.
type pauseOptions struct {
	actor    string
	progress ProgressFunc
	nonce    string
	check    func(rec store.Sandbox) error
	phase    func(lc *store.Lifecycle)
	reasons  []string
}

// pause does the work of Pause; the caller holds the sandbox's lock.
func (m *Manager) pause(ctx context.Context, name string, o pauseOptions) (*PauseResult, error) {
	progress := o.progress
	rec, err := m.record(ctx, name)
	if err != nil {
		return nil, err
	}
	if o.check != nil {
		if err := o.check(rec); err != nil {
			return nil, err
		}
	}
	if rec.Status == StatusPaused {
		snap, err := m.latestSnapshot(ctx, name)
		if err != nil {
			return nil, err
		}
		sb, err := m.Get(ctx, name)

		return &PauseResult{Sandbox: sb, Snapshot: snap, AlreadyPaused: true}, err
	}
	if rec.MachineID == "" || rec.VolumeID == "" {
		return nil, stateError("Call sandbox_get to see its status, or sandbox_delete "+
			"to remove it.", "sandbox %q has no machine to pause (status %s)", name, rec.Status)
	}
	t := target{app: rec.App, machineID: rec.MachineID, nonce: o.nonce}

	progress.report(0, 3, "flushing writes to the volume")
	if _, err := m.plain(ctx, t, `sync -f "$1"`, MountPath); err != nil {
		m.log.Debug("sync before snapshot", "sandbox", name, "error", err)
	}
	progress.report(1, 3, "snapshotting volume "+rec.VolumeID)
	snap, err := m.snapshot(ctx, rec.App, rec.VolumeID)
	if err != nil {
		return nil, &StepError{Op: "pause", Step: "snapshot volume", Err: err,
			Outcome: "the machine was left running and no data was touched"}
	}
	snap.Reason = "pause"
	if err := m.putSnapshot(ctx, name, snap); err != nil {
		return nil, err
	}

	progress.report(2, 3, "deleting machine "+rec.MachineID)
	err = m.fly.DeleteMachine(ctx, rec.App, rec.MachineID, true, t.opts()...)
	if err != nil && !errors.Is(err, flyclient.ErrNotFound) {
		return nil, &StepError{Op: "pause", Step: "delete machine", Err: err,
			Outcome: fmt.Sprintf("snapshot %s is complete and the machine is still there; "+
				"call sandbox_pause again", snap.ID)}
	}
	if err := m.recordIDs(ctx, name, "", rec.VolumeID); err != nil {
		return nil, err
	}
	reason := "paused, snapshot " + snap.ID
	if err := m.setStatusBy(ctx, o.actor, name, StatusPaused, reason); err != nil {
		return nil, err
	}
	reasons := append([]string{reason}, o.reasons...)
	if err := m.moveLifecycle(ctx, name, o.actor, reasons, func(lc *store.Lifecycle) error {
		o.phase(lc)
		return nil
	}); err != nil {
		m.log.Warn("record pause in lifecycle", "sandbox", name, "error", err)
	}
	sb, err := m.Get(ctx, name)

	return &PauseResult{Sandbox: sb, Snapshot: snap}, err
}

// snapshot takes a snapshot of a volume and waits until it is complete.
func (m *Manager) snapshot(ctx context.Context, app, volumeID string) (*Snapshot, error) {
	created, err := m.fly.CreateSnapshot(ctx, app, volumeID)
	if err != nil {
		return nil, err
	}
	snap := *created
	done := func() bool {
		return snap.Status != flyclient.SnapshotWaiting && snap.Status != flyclient.SnapshotRunning
	}
	// A snapshot takes seconds, and listing snapshots draws on the same
	// one-a-second budget as the create's own listings. Looks come every
	// 0.6 s for the first few seconds, which the budget's burst absorbs
	// without queueing, then back off up to ten seconds apart.
	delay := 5 * m.cfg.PollInterval
	for n := 0; !done(); n++ {
		if err := sleepCtx(ctx, delay); err != nil {
			return nil, fmt.Errorf("wait for snapshot %s: %w", snap.ID, err)
		}
		delay = 6 * m.cfg.PollInterval
		if n >= 4 {
			delay = min(time.Duration(float64(delay)*math.Pow(1.5, float64(n-3))),
				100*m.cfg.PollInterval)
		}
		list, err := m.fly.ListSnapshots(ctx, app, volumeID)
		if err != nil {
			return nil, fmt.Errorf("wait for snapshot %s: %w", snap.ID, err)
		}
		i := slices.IndexFunc(list, func(s flyclient.VolumeSnapshot) bool { return s.ID == snap.ID })
		if i < 0 {
			return nil, fmt.Errorf("snapshot %s of %s is no longer listed", snap.ID, volumeID)
		}
		snap = list[i]
	}
	if snap.Status != flyclient.SnapshotCreated {
		return nil, fmt.Errorf("snapshot %s of %s ended %s", snap.ID, volumeID, snap.Status)
	}
	at, _ := time.Parse(time.RFC3339, snap.CreatedAt)

	return &Snapshot{ID: snap.ID, VolumeID: volumeID, Status: snap.Status,
		SizeBytes: snap.Size, CreatedAt: at.UTC()}, nil
}

func (m *Manager) putSnapshot(ctx context.Context, name string, s *Snapshot) error {
	err := m.store.PutSnapshot(ctx, store.Snapshot{
		ID: s.ID, Sandbox: name, VolumeID: s.VolumeID, Status: s.Status,
		Reason: s.Reason, SizeBytes: s.SizeBytes, CreatedAt: s.CreatedAt,
	})
	if err != nil {
		return fmt.Errorf("record snapshot %s: %w", s.ID, err)
	}

	return nil
}

// latestSnapshot returns the sandbox's newest complete snapshot, or nil.
func (m *Manager) latestSnapshot(ctx context.Context, name string) (*Snapshot, error) {
	snaps, err := m.store.ListSnapshots(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("list snapshots of %s: %w", name, err)
	}
	i := slices.IndexFunc(snaps, func(s store.Snapshot) bool {
		return s.Status == flyclient.SnapshotCreated
	})
	if i < 0 {
		return nil, nil
	}

	return snapshotFromStore(snaps[i]), nil
}

func snapshotFromStore(s store.Snapshot) *Snapshot {
	return &Snapshot{ID: s.ID, VolumeID: s.VolumeID, Status: s.Status,
		SizeBytes: s.SizeBytes, Reason: s.Reason, CreatedAt: s.CreatedAt}
}

// record reads a sandbox's record, as a not-found error the caller can act on.
func (m *Manager) record(ctx context.Context, name string) (store.Sandbox, error) {
	if err := m.validateName(name); err != nil {
		return store.Sandbox{}, err
	}
	rec, err := m.store.GetSandbox(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return rec, notFound(name)
	}
	if err != nil {
		return rec, fmt.Errorf("read sandbox %s: %w", name, err)
	}

	return rec, nil
}
