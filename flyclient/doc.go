// Package flyclient is a typed client for the Fly.io Machines REST API and Fly's
// Prometheus query API: apps, machines, leases, exec, metadata, volumes, snapshots,
// IP assignments and secrets.
//
// It paces its own requests to stay inside Fly's documented rate limits, retries
// only what is safe to retry, and reports every non-2xx answer as an *APIError that
// works with errors.Is against ErrNotFound, ErrConflict, ErrRateLimited,
// ErrTimeout, ErrPrecondition and ErrUnauthorized. It knows nothing about
// sandboxes; that mapping lives in the root package.
//
// Known limitations: a create that fails without a clear answer is resolved by
// looking for its result, which is impossible for a machine created without a
// name or an IP of an egress type; those return the uncertain error rather than
// risk a duplicate. The lookups for volumes, IPs and snapshots trust Fly's
// timestamps to within two minutes of this host's clock. Fly's GraphQL API is
// not covered.
package flyclient
