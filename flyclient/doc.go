// Package flyclient is a typed client for the Fly.io Machines REST API and Fly's
// Prometheus query API: apps, machines, leases, exec, metadata, volumes, snapshots,
// IP assignments and secrets.
//
// It paces its own requests to stay inside Fly's documented rate limits, retries
// only what is safe to retry, and reports every non-2xx answer as an *APIError that
// works with errors.Is against ErrNotFound, ErrConflict, ErrRateLimited and
// ErrTimeout. It knows nothing about sandboxes; that mapping lives in the root package.
package flyclient
