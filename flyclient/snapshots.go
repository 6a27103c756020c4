package flyclient

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

func snapshotsPath(app, volumeID string) string {
	return volumePath(app, volumeID) + "/snapshots"
}

// CreateSnapshot starts an on-demand snapshot of a volume: POST
// /v1/apps/{app}/volumes/{id}/snapshots. Fly returns no usable body; poll
// ListSnapshots for the new snapshot, whose Status moves waiting -> running
// -> created. A snapshot already in progress may make Fly answer 409
// (ErrConflict).
//
// A create that fails without a clear answer is not simply sent again: the
// client lists the volume's snapshots and, if one is in progress or was made
// since shortly before the call, takes it as the result.
func (c *Client) CreateSnapshot(ctx context.Context, app, volumeID string) error {
	if err := required("app name", app, "volume id", volumeID); err != nil {
		return fmt.Errorf("create snapshot: %w", err)
	}

	since := time.Now().Add(-createWindow)
	cl := c.newCall(http.MethodPost, snapshotsPath(app, volumeID))
	cl.lookup = func(ctx context.Context) (bool, error) {
		return c.findSnapshot(ctx, app, volumeID, since)
	}
	if err := c.do(ctx, cl, nil); err != nil {
		return fmt.Errorf("create snapshot of volume %s: %w", volumeID, err)
	}

	return nil
}

// findSnapshot looks for a snapshot an uncertain create may have started.
func (c *Client) findSnapshot(
	ctx context.Context,
	app, volumeID string,
	since time.Time,
) (bool, error) {
	var list []VolumeSnapshot
	cl := c.newCall(http.MethodGet, snapshotsPath(app, volumeID))
	cl.once = true
	if err := c.do(ctx, cl, &list); err != nil {
		return false, err
	}
	for _, s := range list {
		inProgress := s.Status == SnapshotWaiting || s.Status == SnapshotRunning
		if inProgress || s.CreatedAt != "" && !createdBefore(s.CreatedAt, since) {
			return true, nil
		}
	}

	return false, nil
}

// ListSnapshots lists a volume's snapshots: GET
// /v1/apps/{app}/volumes/{id}/snapshots, in the order Fly returns them.
func (c *Client) ListSnapshots(
	ctx context.Context,
	app, volumeID string,
) ([]VolumeSnapshot, error) {
	if err := required("app name", app, "volume id", volumeID); err != nil {
		return nil, fmt.Errorf("list snapshots: %w", err)
	}

	var list []VolumeSnapshot
	cl := c.newCall(http.MethodGet, snapshotsPath(app, volumeID))
	if err := c.do(ctx, cl, &list); err != nil {
		return nil, fmt.Errorf("list snapshots of volume %s: %w", volumeID, err)
	}

	return list, nil
}
