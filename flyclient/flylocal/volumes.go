package flylocal

import (
	"cmp"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Volume states.
const (
	volumeCreated   = "created"
	volumeRestoring = "restoring"
	volumeHydrating = "hydrating" // forked from another volume
	volumeDestroyed = "destroyed"
	volumeFailed    = "failed" // a restore that could not complete
)

// Volume defaults and bounds.
const (
	defaultVolumeSizeGB = 1
	maxVolumeSizeGB     = 500
	defaultRetention    = 5
	blockSize           = 4096
)

// volumeNamePattern is Fly's rule for volume names: lower-case letters, digits
// and underscores, at most 30.
var volumeNamePattern = regexp.MustCompile(`^[a-z0-9_]{1,30}$`)

// volumeRecord is a volume as persisted. Its data is the directory
// <state>/volumes/<id>/.
type volumeRecord struct {
	ID                string    `json:"id"`
	AppName           string    `json:"app_name"`
	Name              string    `json:"name"`
	State             string    `json:"state"`
	SizeGB            int       `json:"size_gb"`
	Region            string    `json:"region"`
	Zone              string    `json:"zone"`
	Encrypted         bool      `json:"encrypted"`
	FSType            string    `json:"fstype"`
	SnapshotRetention int       `json:"snapshot_retention"`
	AutoBackupEnabled bool      `json:"auto_backup_enabled"`
	AttachedMachineID string    `json:"attached_machine_id,omitempty"`
	Source            string    `json:"source,omitempty"` // snapshot or volume id while restoring
	CreatedAt         time.Time `json:"created_at"`
	DestroyedAt       time.Time `json:"destroyed_at,omitzero"`
}

// volumeView is the Volume object of the API.
type volumeView struct {
	ID                string  `json:"id"`
	Name              string  `json:"name"`
	State             string  `json:"state"`
	SizeGB            int     `json:"size_gb"`
	Region            string  `json:"region"`
	Zone              string  `json:"zone"`
	Encrypted         bool    `json:"encrypted"`
	AttachedMachineID *string `json:"attached_machine_id"`
	AttachedAllocID   *string `json:"attached_alloc_id"`
	CreatedAt         string  `json:"created_at"`
	Blocks            int64   `json:"blocks"`
	BlockSize         int64   `json:"block_size"`
	BlocksFree        int64   `json:"blocks_free"`
	BlocksAvail       int64   `json:"blocks_avail"`
	BytesTotal        int64   `json:"bytes_total"`
	BytesUsed         int64   `json:"bytes_used"`
	FSType            string  `json:"fstype"`
	SnapshotRetention int     `json:"snapshot_retention"`
	AutoBackupEnabled bool    `json:"auto_backup_enabled"`
	HostDedicationKey string  `json:"host_dedication_key"` // always "": no dedicated hosts
	HostStatus        string  `json:"host_status"`
	Type              string  `json:"type"`

	dir string // data directory, for bytes_used
}

// volumeDir is the data directory of volume id.
func (s *Server) volumeDir(id string) string {
	return filepath.Join(s.opts.StateDir, "volumes", id)
}

// volumeViewLocked builds the Volume object of v without its usage, which
// fillUsage adds outside the lock. The caller holds s.mu.
func (s *Server) volumeViewLocked(v *volumeRecord) volumeView {
	view := volumeView{
		ID:                v.ID,
		Name:              v.Name,
		State:             v.State,
		SizeGB:            v.SizeGB,
		Region:            v.Region,
		Zone:              v.Zone,
		Encrypted:         v.Encrypted,
		CreatedAt:         v.CreatedAt.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		BlockSize:         blockSize,
		BytesTotal:        int64(v.SizeGB) << 30,
		FSType:            v.FSType,
		SnapshotRetention: v.SnapshotRetention,
		AutoBackupEnabled: v.AutoBackupEnabled,
		HostStatus:        "ok",
		Type:              "local",
	}
	if v.AttachedMachineID != "" {
		id := v.AttachedMachineID
		view.AttachedMachineID = &id
	}
	if v.State == volumeCreated {
		view.dir = s.volumeDir(v.ID)
	}

	return view
}

// fillUsage computes bytes_used and the block counts from the data directory.
// The size limit is not enforced, so usage may exceed bytes_total.
func (v *volumeView) fillUsage() {
	if v.dir != "" {
		v.BytesUsed = dirUsage(v.dir)
	}
	v.Blocks = v.BytesTotal / blockSize
	v.BlocksFree = max(0, v.Blocks-(v.BytesUsed+blockSize-1)/blockSize)
	v.BlocksAvail = v.BlocksFree
}

// dirUsage sums the sizes of the files under dir.
func dirUsage(dir string) int64 {
	var total int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if info, err := d.Info(); err == nil && !d.IsDir() {
			total += info.Size()
		}

		return nil
	})

	return total
}

// volumeLocked returns the volume named in r's path, destroyed ones included.
// The caller holds s.mu.
func (s *Server) volumeLocked(r *http.Request) (*volumeRecord, error) {
	if _, err := s.appLocked(r); err != nil {
		return nil, err
	}
	v := s.volumes[r.PathValue("volume_id")]
	if v == nil || v.AppName != r.PathValue("app_name") {
		return nil, errNotFound("volume")
	}

	return v, nil
}

// liveVolumeLocked is volumeLocked without destroyed volumes. The caller holds
// s.mu.
func (s *Server) liveVolumeLocked(r *http.Request) (*volumeRecord, error) {
	v, err := s.volumeLocked(r)
	if err == nil && v.State == volumeDestroyed {
		return nil, errNotFound("volume")
	}

	return v, err
}

// answerVolume writes view, with its usage, as the answer.
func answerVolume(w http.ResponseWriter, status int, view volumeView) {
	view.fillUsage()
	writeJSON(w, status, view)
}

// listVolumes serves GET /v1/apps/{app_name}/volumes, destroyed volumes
// included until they are reaped, as Fly lists them.
func (s *Server) listVolumes(w http.ResponseWriter, r *http.Request) error {
	s.mu.Lock()
	a, err := s.appLocked(r)
	if err != nil {
		s.mu.Unlock()

		return err
	}
	var list []*volumeRecord
	for _, v := range s.volumes {
		if v.AppName == a.Name {
			list = append(list, v)
		}
	}
	slices.SortFunc(list, func(a, b *volumeRecord) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
	views := make([]volumeView, 0, len(list))
	for _, v := range list {
		views = append(views, s.volumeViewLocked(v))
	}
	s.mu.Unlock()

	for i := range views {
		views[i].fillUsage()
	}
	writeJSON(w, http.StatusOK, views)

	return nil
}

// getVolume serves GET /v1/apps/{app_name}/volumes/{volume_id}.
func (s *Server) getVolume(w http.ResponseWriter, r *http.Request) error {
	s.mu.Lock()
	v, err := s.volumeLocked(r)
	if err != nil {
		s.mu.Unlock()

		return err
	}
	view := s.volumeViewLocked(v)
	s.mu.Unlock()
	answerVolume(w, http.StatusOK, view)

	return nil
}

// updateVolume serves PUT /v1/apps/{app_name}/volumes/{volume_id} with
// {snapshot_retention, auto_backup_enabled}.
func (s *Server) updateVolume(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		SnapshotRetention *int  `json:"snapshot_retention"`
		AutoBackupEnabled *bool `json:"auto_backup_enabled"`
	}
	if err := decodeBody(r, &req, false); err != nil {
		return err
	}
	if n := req.SnapshotRetention; n != nil && (*n < 1 || *n > 60) {
		return errInvalid("snapshot_retention must be from 1 to 60 days")
	}

	s.mu.Lock()
	v, err := s.liveVolumeLocked(r)
	if err != nil {
		s.mu.Unlock()

		return err
	}
	if req.SnapshotRetention != nil {
		v.SnapshotRetention = *req.SnapshotRetention
	}
	if req.AutoBackupEnabled != nil {
		v.AutoBackupEnabled = *req.AutoBackupEnabled
	}
	err = s.db.put(kindVolumes, v.ID, v)
	view := s.volumeViewLocked(v)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	answerVolume(w, http.StatusOK, view)

	return nil
}

// deleteVolume serves DELETE /v1/apps/{app_name}/volumes/{volume_id}: 409
// while a machine has it attached, else its data is removed and the answer is
// the volume, "destroyed". Its snapshots stay.
func (s *Server) deleteVolume(w http.ResponseWriter, r *http.Request) error {
	s.mu.Lock()
	v, err := s.liveVolumeLocked(r)
	if err != nil {
		s.mu.Unlock()

		return err
	}
	if v.AttachedMachineID != "" {
		s.mu.Unlock()

		return errConflict("failed_precondition: volume %s is attached to machine %s",
			v.ID, v.AttachedMachineID)
	}
	v.State = volumeDestroyed
	v.DestroyedAt = s.now().UTC()
	err = s.db.put(kindVolumes, v.ID, v)
	view := s.volumeViewLocked(v)
	s.notifyLocked()
	s.mu.Unlock()
	if err != nil {
		return err
	}

	if err := os.RemoveAll(s.volumeDir(v.ID)); err != nil {
		s.log.Error("remove volume data", logVolume, v.ID, logError, err)
	}
	s.log.Info("volume destroyed", logVolume, view.ID)
	answerVolume(w, http.StatusOK, view)

	return nil
}

// extendVolume serves PUT .../volumes/{volume_id}/extend with {"size_gb": N}.
// Volumes only grow. A directory needs no restart to use more space.
func (s *Server) extendVolume(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		SizeGB int `json:"size_gb"`
	}
	if err := decodeBody(r, &req, false); err != nil {
		return err
	}

	s.mu.Lock()
	v, err := s.liveVolumeLocked(r)
	if err != nil {
		s.mu.Unlock()

		return err
	}
	if req.SizeGB <= v.SizeGB || req.SizeGB > maxVolumeSizeGB {
		s.mu.Unlock()

		return errInvalid("size_gb must be greater than the current %d GB and at most %d",
			v.SizeGB, maxVolumeSizeGB)
	}
	old := v.SizeGB
	v.SizeGB = req.SizeGB
	if err := s.db.put(kindVolumes, v.ID, v); err != nil {
		v.SizeGB = old
		s.mu.Unlock()

		return err
	}
	view := s.volumeViewLocked(v)
	s.mu.Unlock()

	view.fillUsage()
	writeJSON(w, http.StatusOK, map[string]any{"volume": view, "needs_restart": false})

	return nil
}

// restoreSuffix names the directory a restore fills before it becomes the
// volume's data directory, so that a volume's data dir is always complete.
const restoreSuffix = ".restoring"

// createVolumeRequest is the body of POST .../volumes.
type createVolumeRequest struct {
	Name              string  `json:"name"`
	Region            string  `json:"region"`
	SizeGB            *int    `json:"size_gb"`
	Encrypted         *bool   `json:"encrypted"`
	SnapshotID        *string `json:"snapshot_id"`
	SourceVolumeID    *string `json:"source_volume_id"`
	SnapshotRetention *int    `json:"snapshot_retention"`
	AutoBackupEnabled *bool   `json:"auto_backup_enabled"`
	FSType            string  `json:"fstype"`
}

// createVolume serves POST /v1/apps/{app_name}/volumes. A snapshot_id
// restores the snapshot's archive into the new volume ("restoring", then
// "created"); a source_volume_id forks that volume's data ("hydrating", then
// "created"). Machines may be created on a volume still restoring; they boot
// once it is ready.
func (s *Server) createVolume(w http.ResponseWriter, r *http.Request) error {
	var req createVolumeRequest
	if err := decodeBody(r, &req, false); err != nil {
		return err
	}
	size := cmp.Or(deref(req.SizeGB), defaultVolumeSizeGB)
	retention := cmp.Or(deref(req.SnapshotRetention), defaultRetention)
	switch {
	case req.Name == "":
		return errInvalid("name is required")
	case !volumeNamePattern.MatchString(req.Name):
		return errInvalid("name %q must be 1 to 30 lower-case letters, digits or underscores",
			req.Name)
	case size < 1 || size > maxVolumeSizeGB:
		return errInvalid("size_gb must be from 1 to %d", maxVolumeSizeGB)
	case retention < 1 || retention > 60:
		return errInvalid("snapshot_retention must be from 1 to 60 days")
	case req.FSType != "" && req.FSType != "ext4" && req.FSType != "raw":
		return errInvalid("fstype must be ext4 or raw")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.appLocked(r)
	if err != nil {
		return err
	}
	v := &volumeRecord{
		ID:                newVolumeID(),
		AppName:           a.Name,
		Name:              req.Name,
		State:             volumeCreated,
		SizeGB:            size,
		Region:            cmp.Or(req.Region, s.opts.Region),
		Zone:              randomHex(2),
		Encrypted:         req.Encrypted == nil || *req.Encrypted,
		FSType:            cmp.Or(req.FSType, "ext4"),
		SnapshotRetention: retention,
		AutoBackupEnabled: req.AutoBackupEnabled == nil || *req.AutoBackupEnabled,
		CreatedAt:         s.now().UTC(),
	}
	if err := s.volumeSourceLocked(v, req); err != nil {
		return err
	}
	if v.State == volumeCreated {
		if err := os.MkdirAll(s.volumeDir(v.ID), 0o755); err != nil {
			return err
		}
	}
	if err := s.db.put(kindVolumes, v.ID, v); err != nil {
		return err
	}
	s.volumes[v.ID] = v
	if v.State != volumeCreated {
		s.startRestoreLocked(v)
	}
	s.log.Info("volume created", logApp, a.Name, logVolume, v.ID, "source", v.Source)
	view := s.volumeViewLocked(v)
	view.fillUsage()
	writeJSON(w, http.StatusOK, view)

	return nil
}

// volumeSourceLocked sets up v to be restored from the snapshot or forked from
// the volume req names, if any. The caller holds s.mu.
func (s *Server) volumeSourceLocked(v *volumeRecord, req createVolumeRequest) error {
	switch {
	case req.SnapshotID != nil && *req.SnapshotID != "":
		snap := s.snapshots[*req.SnapshotID]
		if snap == nil {
			return errNotFound("snapshot")
		}
		if snap.Status != snapshotCreated {
			return errPrecondition("snapshot %s is %s, not created", snap.ID, snap.Status)
		}
		v.State, v.Source = volumeRestoring, snap.ID
		v.SizeGB = max(v.SizeGB, int((snap.VolumeSize+(1<<30)-1)>>30))
	case req.SourceVolumeID != nil && *req.SourceVolumeID != "":
		src := s.volumes[*req.SourceVolumeID]
		if src == nil || src.AppName != v.AppName || src.State != volumeCreated {
			return errInvalid("source volume %s not found in app %s", *req.SourceVolumeID,
				v.AppName)
		}
		v.State, v.Source = volumeHydrating, src.ID
		v.SizeGB = max(v.SizeGB, src.SizeGB)
	}

	return nil
}

// startRestoreLocked fills v's data from its source in the background. The
// caller holds s.mu.
func (s *Server) startRestoreLocked(v *volumeRecord) {
	s.goLocked(func() { s.restore(v) })
}

// restore extracts v's source into a scratch directory, then renames it into
// place and marks v created. A volume destroyed meanwhile is cleaned up.
func (s *Server) restore(v *volumeRecord) {
	s.mu.Lock()
	source, fromSnapshot := v.Source, v.State == volumeRestoring
	s.mu.Unlock()
	dir := s.volumeDir(v.ID)
	scratch := dir + restoreSuffix
	_ = os.RemoveAll(scratch)

	var err error
	if fromSnapshot {
		err = extractArchive(s.archivePath(source), scratch)
	} else {
		err = copyTree(s.volumeDir(source), scratch)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	pending := v.State == volumeRestoring || v.State == volumeHydrating
	if s.closed || s.volumes[v.ID] != v || !pending {
		_ = os.RemoveAll(scratch)

		return
	}
	if err == nil {
		_ = os.RemoveAll(dir)
		err = os.Rename(scratch, dir)
	}
	if err != nil {
		s.log.Error("restore volume", logVolume, v.ID, "source", source, logError, err)
		v.State = volumeFailed
	} else {
		v.State, v.Source = volumeCreated, ""
	}
	s.saveLocked(kindVolumes, v.ID, v)
	s.notifyLocked()
}

// deref returns *p, or the zero value for nil.
func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}

	return *p
}
