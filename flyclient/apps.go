package flyclient

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

// createAppBody adds an idempotency key to the create: Fly answers a repeated
// create carrying the same key and name with the app made the first time.
type createAppBody struct {
	CreateAppRequest
	IdempotencyKey string `json:"idempotency_key,omitempty"`
}

// CreateApp creates an app: POST /v1/apps. Name and OrgSlug are required; app
// names are one namespace across all of Fly, and a taken name fails with an
// error matching ErrConflict. Fly's answer holds only the app's id, so Name and
// Organization are filled in from req.
//
// A create that fails without a clear answer (5xx, timeout, reset) is not
// simply sent again: the client first looks the app up by name and returns it
// if it exists in req's organization, and sends the request again only if not.
func (c *Client) CreateApp(ctx context.Context, req CreateAppRequest) (*App, error) {
	if err := required("app name", req.Name, "org slug", req.OrgSlug); err != nil {
		return nil, fmt.Errorf("create app: %w", err)
	}

	var app App
	cl := c.newCall(http.MethodPost, "/v1/apps")
	err := cl.setJSON(createAppBody{CreateAppRequest: req, IdempotencyKey: rand.Text()})
	if err != nil {
		return nil, fmt.Errorf("create app %s: %w", req.Name, err)
	}
	cl.lookup = func(ctx context.Context) (bool, error) {
		return c.findApp(ctx, req, &app)
	}
	if err := c.do(ctx, cl, &app); err != nil {
		return nil, fmt.Errorf("create app %s: %w", req.Name, err)
	}

	if app.Name == "" {
		app.Name = req.Name
	}
	if app.Organization == nil {
		app.Organization = &Organization{Slug: req.OrgSlug}
	}

	return &app, nil
}

// findApp looks for the app an uncertain create may have made.
func (c *Client) findApp(ctx context.Context, req CreateAppRequest, out *App) (bool, error) {
	var app App
	cl := c.newCall(http.MethodGet, "/v1/apps/"+seg(req.Name))
	cl.once = true
	err := c.do(ctx, cl, &app)
	switch {
	case errors.Is(err, ErrNotFound):
		return false, nil
	case err != nil:
		return false, err
	case app.Organization != nil && app.Organization.Slug != "" &&
		app.Organization.Slug != req.OrgSlug:
		// Someone else's app: sending again earns the honest name_taken.
		return false, nil
	}
	*out = app

	return true, nil
}

// GetApp returns an app: GET /v1/apps/{name}. A missing app matches
// ErrNotFound; an app owned by an organization the token cannot see matches
// ErrUnauthorized (Fly answers 403).
func (c *Client) GetApp(ctx context.Context, name string) (*App, error) {
	if err := required("app name", name); err != nil {
		return nil, fmt.Errorf("get app: %w", err)
	}

	var app App
	if err := c.do(ctx, c.newCall(http.MethodGet, "/v1/apps/"+seg(name)), &app); err != nil {
		return nil, fmt.Errorf("get app %s: %w", name, err)
	}

	return &app, nil
}

// ListApps returns the apps of an organization: GET /v1/apps?org_slug={org}.
// The slug is required; "personal" names the token owner's personal org.
func (c *Client) ListApps(ctx context.Context, orgSlug string) ([]App, error) {
	if err := required("org slug", orgSlug); err != nil {
		return nil, fmt.Errorf("list apps: %w", err)
	}

	var resp ListAppsResponse
	cl := c.newCall(http.MethodGet, "/v1/apps")
	cl.query = url.Values{"org_slug": {orgSlug}}
	if err := c.do(ctx, cl, &resp); err != nil {
		return nil, fmt.Errorf("list apps of %s: %w", orgSlug, err)
	}

	return resp.Apps, nil
}

// DeleteApp deletes an app and everything in it: DELETE /v1/apps/{name}, which
// Fly accepts with 202 and carries out in the background. With force, running
// machines are stopped first; without it they should already be stopped.
// A retry that finds the app already gone counts as success.
func (c *Client) DeleteApp(ctx context.Context, name string, force bool) error {
	if err := required("app name", name); err != nil {
		return fmt.Errorf("delete app: %w", err)
	}

	cl := c.newCall(http.MethodDelete, "/v1/apps/"+seg(name))
	cl.goneIsDone = true
	if force {
		cl.query = url.Values{"force": {"true"}}
	}
	if err := c.do(ctx, cl, nil); err != nil {
		return fmt.Errorf("delete app %s: %w", name, err)
	}

	return nil
}
