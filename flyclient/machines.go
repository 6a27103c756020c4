package flyclient

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// ListMachinesOptions filters ListMachines. The zero value lists every live
// machine of the app with its full config.
type ListMachinesOptions struct {
	// IncludeDeleted also lists destroyed machines.
	IncludeDeleted bool
	// Region keeps machines in one region, such as "ord".
	Region string
	// States keeps machines in any of these states.
	States []string
	// Summary leaves out config, checks, events and other detail.
	Summary bool
	// Metadata keeps machines whose metadata has every key set to its value.
	Metadata map[string]string
}

func (o ListMachinesOptions) query() url.Values {
	q := url.Values{}
	if o.IncludeDeleted {
		q.Set("include_deleted", "true")
	}
	if o.Region != "" {
		q.Set("region", o.Region)
	}
	if len(o.States) > 0 {
		q.Set("state", strings.Join(o.States, ","))
	}
	if o.Summary {
		q.Set("summary", "true")
	}
	for k, v := range o.Metadata {
		q.Set("metadata."+k, v)
	}

	return q
}

func machinesPath(app string) string {
	return "/v1/apps/" + seg(app) + "/machines"
}

func machinePath(app, id string) string {
	return machinesPath(app) + "/" + seg(id)
}

// CreateMachine creates a machine: POST /v1/apps/{app}/machines. Fly answers
// at once, usually in state "created", and boots the machine in the
// background (unless SkipLaunch); use WaitMachine to wait for "started".
//
// A create that fails without a clear answer (5xx, timeout, reset) is not
// simply sent again. If req.Name is set, the client lists the app's machines
// and returns the live one with that name if there is one (names are unique
// within an app), and sends the request again only if not. Without a name
// there is nothing to look for, so the uncertain error is returned.
func (c *Client) CreateMachine(
	ctx context.Context,
	app string,
	req CreateMachineRequest,
) (*Machine, error) {
	if err := required("app name", app, "image", req.Config.Image); err != nil {
		return nil, fmt.Errorf("create machine in app %s: %w", app, err)
	}

	var m Machine
	cl := c.newCall(http.MethodPost, machinesPath(app))
	if err := cl.setJSON(req); err != nil {
		return nil, fmt.Errorf("create machine in app %s: %w", app, err)
	}
	if req.Name != "" {
		cl.lookup = func(ctx context.Context) (bool, error) {
			return c.findMachine(ctx, app, req.Name, &m)
		}
	}
	if err := c.do(ctx, cl, &m); err != nil {
		return nil, fmt.Errorf("create machine in app %s: %w", app, err)
	}

	return &m, nil
}

// findMachine looks for the live machine named name, which an uncertain
// create may have made.
func (c *Client) findMachine(ctx context.Context, app, name string, out *Machine) (bool, error) {
	var list []Machine
	cl := c.newCall(http.MethodGet, machinesPath(app))
	cl.once = true
	if err := c.do(ctx, cl, &list); err != nil {
		return false, err
	}
	for _, m := range list {
		if m.Name == name && m.State != StateDestroyed && m.State != StateDestroying {
			*out = m

			return true, nil
		}
	}

	return false, nil
}

// GetMachine returns a machine: GET /v1/apps/{app}/machines/{id}. A missing
// machine matches ErrNotFound; a recently destroyed one may still be returned
// with state "destroyed".
func (c *Client) GetMachine(ctx context.Context, app, id string) (*Machine, error) {
	if err := required("app name", app, "machine id", id); err != nil {
		return nil, fmt.Errorf("get machine: %w", err)
	}

	var m Machine
	if err := c.do(ctx, c.newCall(http.MethodGet, machinePath(app, id)), &m); err != nil {
		return nil, fmt.Errorf("get machine %s: %w", id, err)
	}

	return &m, nil
}

// ListMachines lists an app's machines: GET /v1/apps/{app}/machines with
// include_deleted, region, state (comma list), summary and metadata.{key}
// filters from opts.
func (c *Client) ListMachines(
	ctx context.Context,
	app string,
	opts ListMachinesOptions,
) ([]Machine, error) {
	if err := required("app name", app); err != nil {
		return nil, fmt.Errorf("list machines: %w", err)
	}

	var list []Machine
	cl := c.newCall(http.MethodGet, machinesPath(app))
	cl.query = opts.query()
	if err := c.do(ctx, cl, &list); err != nil {
		return nil, fmt.Errorf("list machines in app %s: %w", app, err)
	}

	return list, nil
}

// UpdateMachine replaces a machine's config whole: POST
// /v1/apps/{app}/machines/{id}. A running machine reboots into the new config
// and gets a new instance_id. A leased machine needs LeaseNonce. With
// req.CurrentVersion set, Fly refuses the update if the machine changed since.
//
// An update is retried after an uncertain failure: sending the same full
// config again leads to the same machine. The one cost is that, with
// CurrentVersion set, a retry after an attempt that did land is refused as
// stale, so the error may hide a success; read the machine to tell.
func (c *Client) UpdateMachine(
	ctx context.Context,
	app, id string,
	req UpdateMachineRequest,
	opts ...CallOption,
) (*Machine, error) {
	if err := required("app name", app, "machine id", id, "image", req.Config.Image); err != nil {
		return nil, fmt.Errorf("update machine: %w", err)
	}

	var m Machine
	cl := c.newCall(http.MethodPost, machinePath(app, id))
	cl.idempotent = true
	cl.header = callHeader(opts)
	if err := cl.setJSON(req); err != nil {
		return nil, fmt.Errorf("update machine %s: %w", id, err)
	}
	if err := c.do(ctx, cl, &m); err != nil {
		return nil, fmt.Errorf("update machine %s: %w", id, err)
	}

	return &m, nil
}

// StartMachine starts a stopped, suspended or created machine: POST
// /v1/apps/{app}/machines/{id}/start. It returns once Fly accepted the start;
// use WaitMachine for "started". A leased machine needs LeaseNonce.
//
// Start is retried after an uncertain failure: asking twice for the same end
// state is harmless.
func (c *Client) StartMachine(ctx context.Context, app, id string, opts ...CallOption) error {
	return c.machineAction(ctx, app, id, "start", nil, opts)
}

// StopMachine stops a machine: POST /v1/apps/{app}/machines/{id}/stop, with
// req's signal and grace period if set (a zero req sends no body). It returns
// once Fly accepted the stop; use WaitMachine for "stopped". A leased machine
// needs LeaseNonce.
//
// Stop is retried after an uncertain failure: stopping twice is harmless.
func (c *Client) StopMachine(
	ctx context.Context,
	app, id string,
	req StopRequest,
	opts ...CallOption,
) error {
	var body any
	if req != (StopRequest{}) {
		body = req
	}

	return c.machineAction(ctx, app, id, "stop", body, opts)
}

// RestartMachine restarts a machine: POST
// /v1/apps/{app}/machines/{id}/restart. A leased machine needs LeaseNonce.
//
// Restart is retried after an uncertain failure: at worst the machine
// restarts twice, and it ends in the state the caller asked for.
func (c *Client) RestartMachine(ctx context.Context, app, id string, opts ...CallOption) error {
	return c.machineAction(ctx, app, id, "restart", nil, opts)
}

// machineAction posts an idempotent action with an optional JSON body and
// ignores the answer's body.
func (c *Client) machineAction(
	ctx context.Context,
	app, id, action string,
	body any,
	opts []CallOption,
) error {
	if err := required("app name", app, "machine id", id); err != nil {
		return fmt.Errorf("%s machine: %w", action, err)
	}

	cl := c.newCall(http.MethodPost, machinePath(app, id)+"/"+action)
	cl.idempotent = true
	cl.header = callHeader(opts)
	if body != nil {
		if err := cl.setJSON(body); err != nil {
			return fmt.Errorf("%s machine %s: %w", action, id, err)
		}
	}
	if err := c.do(ctx, cl, nil); err != nil {
		return fmt.Errorf("%s machine %s: %w", action, id, err)
	}

	return nil
}

// DeleteMachine destroys a machine: DELETE
// /v1/apps/{app}/machines/{id}, with ?force=true when force is set, which
// kills a running machine; without it Fly refuses to delete a running one.
// A leased machine needs LeaseNonce. A retry that finds the machine already
// gone counts as success.
func (c *Client) DeleteMachine(
	ctx context.Context,
	app, id string,
	force bool,
	opts ...CallOption,
) error {
	if err := required("app name", app, "machine id", id); err != nil {
		return fmt.Errorf("delete machine: %w", err)
	}

	cl := c.newCall(http.MethodDelete, machinePath(app, id))
	cl.goneIsDone = true
	cl.header = callHeader(opts)
	if force {
		cl.query = url.Values{"force": {"true"}}
	}
	if err := c.do(ctx, cl, nil); err != nil {
		return fmt.Errorf("delete machine %s: %w", id, err)
	}

	return nil
}
