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
// /v1/apps/{app}/volumes/{id}/snapshots, and returns it, usually still in
// progress: its Status moves waiting -> running -> created (or failed), which
// ListSnapshots shows. A snapshot already in progress may make Fly answer 409
// (ErrConflict).
//
// Fly's answer carries no snapshot id, so the client lists the volume's
// snapshots before sending and returns the one that is new afterwards. The same
// baseline makes an uncertain failure safe: the client sends again only when
// no new snapshot is listed.
func (c *Client) CreateSnapshot(
	ctx context.Context,
	app, volumeID string,
) (*VolumeSnapshot, error) {
	before, err := c.ListSnapshots(ctx, app, volumeID)
	if err != nil {
		return nil, fmt.Errorf("create snapshot: %w", err)
	}
	known := make(map[string]bool, len(before))
	for _, s := range before {
		known[s.ID] = true
	}

	var snap VolumeSnapshot
	cl := c.newCall(http.MethodPost, snapshotsPath(app, volumeID))
	cl.lookup = func(ctx context.Context) (bool, error) {
		return c.findSnapshot(ctx, app, volumeID, known, &snap)
	}
	if err := c.do(ctx, cl, nil); err != nil {
		return nil, fmt.Errorf("create snapshot of volume %s: %w", volumeID, err)
	}
	// Fly lists a new snapshot at once; allow a short delay all the same. The
	// snapshot exists now, so a transient failure to list it is waited out
	// rather than reported: the caller would never learn its id.
	deadline := time.Now().Add(snapshotListWait)
	for delay := 50 * time.Millisecond; snap.ID == ""; delay = min(2*delay, time.Second) {
		_, err := c.findSnapshot(ctx, app, volumeID, known, &snap)
		if err != nil && (!IsTransient(err) || time.Now().After(deadline)) {
			return nil, fmt.Errorf("find new snapshot of volume %s: %w", volumeID, err)
		}
		if snap.ID != "" {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("create snapshot of volume %s: Fly accepted it but has "+
				"not listed it after %s", volumeID, snapshotListWait)
		}
		if err := sleep(ctx, delay); err != nil {
			return nil, fmt.Errorf("find new snapshot of volume %s: %w", volumeID, err)
		}
	}

	return &snap, nil
}

// snapshotListWait is how long a snapshot Fly accepted may take to be listed.
const snapshotListWait = 30 * time.Second

// findSnapshot looks for a snapshot of the volume that is not in known; of
// several, it takes the newest.
func (c *Client) findSnapshot(
	ctx context.Context,
	app, volumeID string,
	known map[string]bool,
	out *VolumeSnapshot,
) (bool, error) {
	var list []VolumeSnapshot
	cl := c.newCall(http.MethodGet, snapshotsPath(app, volumeID))
	cl.once = true
	if err := c.do(ctx, cl, &list); err != nil {
		return false, err
	}
	found := false
	for _, s := range list {
		newer := !found || s.CreatedAt == "" || s.CreatedAt > out.CreatedAt
		if !known[s.ID] && newer {
			*out, found = s, true
		}
	}

	return found, nil
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
