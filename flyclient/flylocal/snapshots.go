package flylocal

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Snapshot statuses.
const (
	snapshotWaiting = "waiting"
	snapshotRunning = "running"
	snapshotCreated = "created"
	snapshotFailed  = "failed"
)

// errInjectedFailure is the cause of snapshots failed by FailSnapshots.
var errInjectedFailure = errors.New("failure injected by FailSnapshots")

// snapshotRecord is a volume snapshot as persisted. Its archive is
// <state>/snapshots/<id>.tar. Snapshots outlive their volume and go with
// their app.
type snapshotRecord struct {
	ID            string    `json:"id"`
	AppName       string    `json:"app_name"`
	VolumeID      string    `json:"volume_id"`
	Status        string    `json:"status"`
	Size          int64     `json:"size"`        // archive bytes
	VolumeSize    int64     `json:"volume_size"` // bytes of the volume's size_gb
	Digest        string    `json:"digest"`      // sha256 of the archive
	RetentionDays int       `json:"retention_days"`
	RequestedAt   time.Time `json:"requested_at"`
	CreatedAt     time.Time `json:"created_at,omitzero"`
}

// snapshotView is the VolumeSnapshot object of the API; created_at is absent
// while the snapshot is in progress.
type snapshotView struct {
	ID            string `json:"id"`
	Size          int64  `json:"size"`
	VolumeSize    int64  `json:"volume_size"`
	Digest        string `json:"digest"`
	CreatedAt     string `json:"created_at,omitempty"`
	Status        string `json:"status"`
	RetentionDays *int   `json:"retention_days"`
}

// archivePath is the archive file of snapshot id.
func (s *Server) archivePath(id string) string {
	return filepath.Join(s.opts.StateDir, "snapshots", id+".tar")
}

// listSnapshots serves GET .../volumes/{volume_id}/snapshots, oldest first.
// The snapshots of a destroyed, even reaped, volume are still listed.
func (s *Server) listSnapshots(w http.ResponseWriter, r *http.Request) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.appLocked(r)
	if err != nil {
		return err
	}
	volID := r.PathValue("volume_id")
	var list []*snapshotRecord
	for _, snap := range s.snapshots {
		if snap.AppName == a.Name && snap.VolumeID == volID {
			list = append(list, snap)
		}
	}
	if v := s.volumes[volID]; len(list) == 0 && (v == nil || v.AppName != a.Name) {
		return errNotFound("volume")
	}
	slices.SortFunc(list, func(a, b *snapshotRecord) int {
		return cmp.Or(a.RequestedAt.Compare(b.RequestedAt), strings.Compare(a.ID, b.ID))
	})
	out := make([]snapshotView, 0, len(list))
	for _, snap := range list {
		retention := snap.RetentionDays
		view := snapshotView{
			ID:            snap.ID,
			Size:          snap.Size,
			VolumeSize:    snap.VolumeSize,
			Digest:        snap.Digest,
			Status:        snap.Status,
			RetentionDays: &retention,
		}
		if !snap.CreatedAt.IsZero() {
			view.CreatedAt = snap.CreatedAt.UTC().Format(time.RFC3339)
		}
		out = append(out, view)
	}
	writeJSON(w, http.StatusOK, out)

	return nil
}

// createSnapshot serves POST .../volumes/{volume_id}/snapshots. It answers 200
// with an empty body, as Fly does; the snapshot then goes "waiting",
// "running" (when the volume directory is archived) and "created" over
// SnapshotDuration. A second snapshot while one is in progress is a 409.
func (s *Server) createSnapshot(w http.ResponseWriter, r *http.Request) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, err := s.liveVolumeLocked(r)
	if err != nil {
		return err
	}
	if v.State != volumeCreated {
		return errPrecondition("volume %s is %s, not created", v.ID, v.State)
	}
	if id := s.activeSnaps[v.ID]; id != "" {
		return errConflict("failed_precondition: snapshot %s of volume %s is in progress",
			id, v.ID)
	}

	snap := &snapshotRecord{
		ID:            newSnapshotID(),
		AppName:       v.AppName,
		VolumeID:      v.ID,
		Status:        snapshotWaiting,
		VolumeSize:    int64(v.SizeGB) << 30,
		RetentionDays: v.SnapshotRetention,
		RequestedAt:   s.now().UTC(),
	}
	if err := s.db.put(kindSnapshots, snap.ID, snap); err != nil {
		return err
	}
	fail := s.failSnaps > 0
	if fail {
		s.failSnaps--
	}
	s.snapshots[snap.ID] = snap
	s.activeSnaps[v.ID] = snap.ID
	s.goLocked(func() { s.takeSnapshot(snap, fail) })
	s.log.Info("snapshot requested", logVolume, v.ID, logSnapshot, snap.ID)
	w.WriteHeader(http.StatusOK)

	return nil
}

// takeSnapshot moves snap through its statuses, archiving the volume when it
// turns "running". fail makes it end "failed" without an archive.
func (s *Server) takeSnapshot(snap *snapshotRecord, fail bool) {
	half := s.opts.SnapshotDuration / 2
	if !s.sleep(context.Background(), half) {
		return
	}
	s.mu.Lock()
	if s.closed || s.snapshots[snap.ID] != snap {
		s.mu.Unlock()

		return
	}
	snap.Status = snapshotRunning
	s.saveLocked(kindSnapshots, snap.ID, snap)
	s.notifyLocked()
	s.mu.Unlock()

	path := s.archivePath(snap.ID)
	var size int64
	var digest string
	err := errInjectedFailure
	if !fail {
		size, digest, err = writeArchive(s.volumeDir(snap.VolumeID), path)
	}
	if !s.sleep(context.Background(), s.opts.SnapshotDuration-half) {
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.snapshots[snap.ID] != snap {
		_ = os.Remove(path)

		return
	}
	if s.activeSnaps[snap.VolumeID] == snap.ID {
		delete(s.activeSnaps, snap.VolumeID)
	}
	if err != nil {
		s.log.Warn("snapshot failed", logSnapshot, snap.ID, logError, err)
		snap.Status = snapshotFailed
		_ = os.Remove(path)
	} else {
		snap.Status, snap.Size, snap.Digest = snapshotCreated, size, digest
		snap.CreatedAt = s.now().UTC()
	}
	s.saveLocked(kindSnapshots, snap.ID, snap)
	s.notifyLocked()
}
