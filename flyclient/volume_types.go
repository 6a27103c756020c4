package flyclient

// Volume states and snapshot statuses as Fly reports them.
const (
	VolumeCreated   = "created"
	VolumeRestoring = "restoring"
	VolumeDestroyed = "destroyed"

	SnapshotWaiting = "waiting"
	SnapshotRunning = "running"
	SnapshotCreated = "created"
	SnapshotFailed  = "failed"
)

// Volume is a Fly volume. AttachedMachineID is nil while no machine mounts it.
type Volume struct {
	ID                string  `json:"id"`
	Name              string  `json:"name"`
	State             string  `json:"state"`
	SizeGB            int     `json:"size_gb"`
	Region            string  `json:"region"`
	Zone              string  `json:"zone"`
	Encrypted         bool    `json:"encrypted"`
	AttachedMachineID *string `json:"attached_machine_id"`
	CreatedAt         string  `json:"created_at"`
	BytesTotal        int64   `json:"bytes_total"`
	BytesUsed         int64   `json:"bytes_used"`
	FSType            string  `json:"fstype"`
	SnapshotRetention int     `json:"snapshot_retention"`
	AutoBackupEnabled bool    `json:"auto_backup_enabled"`
	HostStatus        string  `json:"host_status,omitempty"`
}

// CreateVolumeRequest is the body of POST /v1/apps/{app}/volumes. SnapshotID
// restores the new volume from a snapshot.
type CreateVolumeRequest struct {
	Name              string  `json:"name"`
	Region            string  `json:"region,omitempty"`
	SizeGB            int     `json:"size_gb,omitempty"`
	Encrypted         *bool   `json:"encrypted,omitempty"`
	RequireUniqueZone *bool   `json:"require_unique_zone,omitempty"`
	SnapshotID        *string `json:"snapshot_id,omitempty"`
	SourceVolumeID    *string `json:"source_volume_id,omitempty"`
	SnapshotRetention *int    `json:"snapshot_retention,omitempty"`
	AutoBackupEnabled *bool   `json:"auto_backup_enabled,omitempty"`
	FSType            string  `json:"fstype,omitempty"`
}

// ExtendVolumeResponse is the answer of PUT .../volumes/{id}/extend.
type ExtendVolumeResponse struct {
	Volume       Volume `json:"volume"`
	NeedsRestart bool   `json:"needs_restart"`
}

// VolumeSnapshot is a snapshot of a volume. CreatedAt is empty while the
// snapshot is in progress; Status moves waiting -> running -> created.
type VolumeSnapshot struct {
	ID            string `json:"id"`
	Size          int64  `json:"size"`
	VolumeSize    int64  `json:"volume_size"`
	Digest        string `json:"digest"`
	CreatedAt     string `json:"created_at,omitempty"`
	Status        string `json:"status"`
	RetentionDays *int   `json:"retention_days"`
}
