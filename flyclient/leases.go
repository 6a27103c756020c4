package flyclient

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// leaseBody is the body of POST .../lease; ttl is in whole seconds.
type leaseBody struct {
	TTL         int64  `json:"ttl,omitempty"`
	Description string `json:"description,omitempty"`
}

func leasePath(app, id string) string {
	return machinePath(app, id) + "/lease"
}

// ttlSeconds rounds a lease TTL up to whole seconds; zero lets Fly choose.
func ttlSeconds(ttl time.Duration) int64 {
	if ttl <= 0 {
		return 0
	}

	return int64((ttl + time.Second - 1) / time.Second)
}

// AcquireLease takes a lease on a machine for ttl: POST
// /v1/apps/{app}/machines/{id}/lease with {"ttl", "description"}. Fly answers
// 201 with the lease, whose Nonce must then be passed (see LeaseNonce) to
// every mutation of the machine until ReleaseLease. If someone else holds the
// lease, the error matches ErrConflict.
//
// Acquire is repeated only when Fly provably never saw it: after an attempt
// that may have landed, a second acquire would conflict with the first, whose
// nonce was lost.
func (c *Client) AcquireLease(
	ctx context.Context,
	app, id string,
	ttl time.Duration,
	description string,
) (*MachineLease, error) {
	if err := required("app name", app, "machine id", id); err != nil {
		return nil, fmt.Errorf("acquire lease: %w", err)
	}

	cl := c.newCall(http.MethodPost, leasePath(app, id))
	body := leaseBody{TTL: ttlSeconds(ttl), Description: description}
	lease, err := c.postLease(ctx, cl, body)
	if err != nil {
		return nil, fmt.Errorf("acquire lease on machine %s: %w", id, err)
	}

	return lease, nil
}

// RefreshLease extends a lease held with nonce to ttl from now: POST
// /v1/apps/{app}/machines/{id}/lease with the fly-machine-lease-nonce header.
// It is retried after an uncertain failure: extending twice is harmless.
func (c *Client) RefreshLease(
	ctx context.Context,
	app, id, nonce string,
	ttl time.Duration,
) (*MachineLease, error) {
	if err := required("app name", app, "machine id", id, "lease nonce", nonce); err != nil {
		return nil, fmt.Errorf("refresh lease: %w", err)
	}

	cl := c.newCall(http.MethodPost, leasePath(app, id))
	cl.idempotent = true
	cl.header = callHeader([]CallOption{LeaseNonce(nonce)})
	lease, err := c.postLease(ctx, cl, leaseBody{TTL: ttlSeconds(ttl)})
	if err != nil {
		return nil, fmt.Errorf("refresh lease on machine %s: %w", id, err)
	}

	return lease, nil
}

func (c *Client) postLease(ctx context.Context, cl *call, body leaseBody) (*MachineLease, error) {
	if err := cl.setJSON(body); err != nil {
		return nil, err
	}
	var env LeaseEnvelope
	if err := c.do(ctx, cl, &env); err != nil {
		return nil, err
	}

	return env.lease()
}

// GetLease returns the lease on a machine: GET
// /v1/apps/{app}/machines/{id}/lease. With no lease, the error matches
// ErrNotFound.
func (c *Client) GetLease(ctx context.Context, app, id string) (*MachineLease, error) {
	if err := required("app name", app, "machine id", id); err != nil {
		return nil, fmt.Errorf("get lease: %w", err)
	}

	var env LeaseEnvelope
	if err := c.do(ctx, c.newCall(http.MethodGet, leasePath(app, id)), &env); err != nil {
		return nil, fmt.Errorf("get lease on machine %s: %w", id, err)
	}
	lease, err := env.lease()
	if err != nil {
		return nil, fmt.Errorf("get lease on machine %s: %w", id, err)
	}

	return lease, nil
}

// ReleaseLease gives up a lease held with nonce: DELETE
// /v1/apps/{app}/machines/{id}/lease with the fly-machine-lease-nonce header.
// A retry that finds the lease already gone counts as success.
func (c *Client) ReleaseLease(ctx context.Context, app, id, nonce string) error {
	if err := required("app name", app, "machine id", id, "lease nonce", nonce); err != nil {
		return fmt.Errorf("release lease: %w", err)
	}

	cl := c.newCall(http.MethodDelete, leasePath(app, id))
	cl.header = callHeader([]CallOption{LeaseNonce(nonce)})
	cl.goneIsDone = true
	if err := c.do(ctx, cl, nil); err != nil {
		return fmt.Errorf("release lease on machine %s: %w", id, err)
	}

	return nil
}

// lease unwraps the envelope, which carries no data when Fly refused.
func (e LeaseEnvelope) lease() (*MachineLease, error) {
	if e.Data == nil {
		return nil, fmt.Errorf("flyclient: lease answer has no data (status %q, code %q: %s)",
			e.Status, e.Code, e.Message)
	}

	return e.Data, nil
}
