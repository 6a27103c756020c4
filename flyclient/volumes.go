package flyclient

import (
	"context"
	"fmt"
	"net/http"
)

func volumesPath(app string) string {
	return "/v1/apps/" + seg(app) + "/volumes"
}

func volumePath(app, id string) string {
	return volumesPath(app) + "/" + seg(id)
}

// CreateVolume creates a volume: POST /v1/apps/{app}/volumes. req.Name is
// required; with SnapshotID the volume is restored from that snapshot and
// starts in state "restoring".
//
// The client lists the app's volumes before sending. A create that then fails
// without a clear answer (5xx, timeout, reset) is not simply sent again: the
// client lists the volumes once more and returns the one live volume with
// req's name (and region, if set) that was not there before, and sends the
// request again only if there is none. If several new volumes match, the
// uncertain error is returned rather than guessing.
func (c *Client) CreateVolume(
	ctx context.Context,
	app string,
	req CreateVolumeRequest,
) (*Volume, error) {
	if err := required("app name", app, "volume name", req.Name); err != nil {
		return nil, fmt.Errorf("create volume in app %s: %w", app, err)
	}

	before, err := c.ListVolumes(ctx, app)
	if err != nil {
		return nil, fmt.Errorf("create volume %s in app %s: %w", req.Name, app, err)
	}
	known := make(map[string]bool, len(before))
	for _, v := range before {
		known[v.ID] = true
	}

	var v Volume
	cl := c.newCall(http.MethodPost, volumesPath(app))
	if err := cl.setJSON(req); err != nil {
		return nil, fmt.Errorf("create volume in app %s: %w", app, err)
	}
	cl.lookup = func(ctx context.Context) (bool, error) {
		return c.findVolume(ctx, app, req, known, &v)
	}
	if err := c.do(ctx, cl, &v); err != nil {
		return nil, fmt.Errorf("create volume %s in app %s: %w", req.Name, app, err)
	}

	return &v, nil
}

// findVolume looks for the volume an uncertain create may have made.
func (c *Client) findVolume(
	ctx context.Context,
	app string,
	req CreateVolumeRequest,
	known map[string]bool,
	out *Volume,
) (bool, error) {
	var list []Volume
	cl := c.newCall(http.MethodGet, volumesPath(app))
	cl.once = true
	if err := c.do(ctx, cl, &list); err != nil {
		return false, err
	}

	var found []Volume
	for _, v := range list {
		if v.Name == req.Name && liveVolume(v.State) &&
			(req.Region == "" || v.Region == req.Region) &&
			!known[v.ID] {
			found = append(found, v)
		}
	}
	switch len(found) {
	case 0:
		return false, nil
	case 1:
		*out = found[0]

		return true, nil
	}

	return false, fmt.Errorf("flyclient: %d new volumes named %s; cannot tell which is ours",
		len(found), req.Name)
}

// liveVolume reports a volume state that is neither deleted nor on its way.
func liveVolume(state string) bool {
	switch state {
	case VolumeDestroyed, "destroying", "scheduling_destroy", "pending_destroy":
		return false
	}

	return true
}

// GetVolume returns a volume: GET /v1/apps/{app}/volumes/{id}. A missing
// volume matches ErrNotFound.
func (c *Client) GetVolume(ctx context.Context, app, id string) (*Volume, error) {
	if err := required("app name", app, "volume id", id); err != nil {
		return nil, fmt.Errorf("get volume: %w", err)
	}

	var v Volume
	if err := c.do(ctx, c.newCall(http.MethodGet, volumePath(app, id)), &v); err != nil {
		return nil, fmt.Errorf("get volume %s: %w", id, err)
	}

	return &v, nil
}

// ListVolumes lists an app's volumes: GET /v1/apps/{app}/volumes. Fly
// includes volumes being destroyed; check State.
func (c *Client) ListVolumes(ctx context.Context, app string) ([]Volume, error) {
	if err := required("app name", app); err != nil {
		return nil, fmt.Errorf("list volumes: %w", err)
	}

	var list []Volume
	if err := c.do(ctx, c.newCall(http.MethodGet, volumesPath(app)), &list); err != nil {
		return nil, fmt.Errorf("list volumes in app %s: %w", app, err)
	}

	return list, nil
}

// DeleteVolume destroys a volume and returns it in its final state: DELETE
// /v1/apps/{app}/volumes/{id}. Fly refuses to delete a volume a machine still
// mounts. A retry after an attempt that did land may report ErrNotFound, since
// Fly then has no volume to return.
func (c *Client) DeleteVolume(ctx context.Context, app, id string) (*Volume, error) {
	if err := required("app name", app, "volume id", id); err != nil {
		return nil, fmt.Errorf("delete volume: %w", err)
	}

	var v Volume
	if err := c.do(ctx, c.newCall(http.MethodDelete, volumePath(app, id)), &v); err != nil {
		return nil, fmt.Errorf("delete volume %s: %w", id, err)
	}

	return &v, nil
}

// ExtendVolume grows a volume to sizeGB: PUT
// /v1/apps/{app}/volumes/{id}/extend with {"size_gb": sizeGB}. Volumes only
// grow. NeedsRestart says whether the attached machine must restart to see
// the new size.
func (c *Client) ExtendVolume(
	ctx context.Context,
	app, id string,
	sizeGB int,
) (*ExtendVolumeResponse, error) {
	if err := required("app name", app, "volume id", id); err != nil {
		return nil, fmt.Errorf("extend volume: %w", err)
	}
	if sizeGB <= 0 {
		return nil, fmt.Errorf("extend volume %s: flyclient: size must be positive", id)
	}

	var resp ExtendVolumeResponse
	cl := c.newCall(http.MethodPut, volumePath(app, id)+"/extend")
	if err := cl.setJSON(map[string]int{"size_gb": sizeGB}); err != nil {
		return nil, fmt.Errorf("extend volume %s: %w", id, err)
	}
	if err := c.do(ctx, cl, &resp); err != nil {
		return nil, fmt.Errorf("extend volume %s: %w", id, err)
	}

	return &resp, nil
}
