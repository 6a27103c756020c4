package flyclient

import (
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// Defaults used by New.
const (
	// DefaultBaseURL is the public Machines API; paths are appended as /v1/....
	DefaultBaseURL = "https://api.machines.dev"
	// DefaultPrometheusURL is Fly's Prometheus API; queries go to <url>/<org>/api/v1/query.
	DefaultPrometheusURL = "https://api.fly.io/prometheus"

	defaultUserAgent   = "sandstorm-flyclient"
	defaultRetries     = 4
	maxRetries         = 10
	defaultBackoffBase = 200 * time.Millisecond
	defaultBackoffMax  = 5 * time.Second
	minBackoff         = time.Millisecond
	maxBackoffBase     = 10 * time.Second
	maxBackoffCeiling  = time.Minute
	minRequestTimeout  = 100 * time.Millisecond
	maxRequestTimeout  = 10 * time.Minute
)

// Option configures a Client in New.
type Option func(*Client)

// WithBaseURL points the client at another Machines API, such as the internal
// http://_api.internal:4280 or a local flylocal server. A trailing slash or /v1
// is dropped, since the client adds /v1 itself. An empty URL is ignored.
func WithBaseURL(u string) Option {
	return func(c *Client) {
		u = strings.TrimSuffix(strings.TrimRight(u, "/"), "/v1")
		if u != "" {
			c.baseURL = u
		}
	}
}

// WithPrometheusURL points Query and QueryRange at another Prometheus API root;
// the org slug and /api/v1/... are appended to it. An empty URL is ignored.
func WithPrometheusURL(u string) Option {
	return func(c *Client) {
		if u = strings.TrimRight(u, "/"); u != "" {
			c.promURL = u
		}
	}
}

// WithHTTPClient sends requests through hc instead of a plain http.Client.
// A nil hc is ignored.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.http = hc
		}
	}
}

// WithLogger sends the client's debug lines (one per HTTP attempt and retry) to
// l. A nil l is ignored; by default nothing is logged.
func WithLogger(l *slog.Logger) Option {
	return func(c *Client) {
		if l != nil {
			c.log = l
		}
	}
}

// WithRetries sets how many times a failed call may be repeated, clamped to
// 0..10. The default is 4. Only failures that are safe to repeat are retried.
func WithRetries(n int) Option {
	return func(c *Client) {
		c.retries = min(max(n, 0), maxRetries)
	}
}

// WithBackoff sets the first retry delay and the cap on retry delays. Base is
// clamped to 1ms..10s and ceiling to base..1m. The defaults are 200ms and 5s.
// Delays are drawn at random up to the capped exponential value (full jitter).
func WithBackoff(base, ceiling time.Duration) Option {
	return func(c *Client) {
		c.backoffBase = min(max(base, minBackoff), maxBackoffBase)
		c.backoffMax = min(max(ceiling, c.backoffBase), maxBackoffCeiling)
	}
}

// WithRequestTimeout bounds each HTTP attempt, so a stalled connection fails
// (and is retried where that is safe) instead of hanging until ctx ends. It is
// clamped to 100ms..10m; zero, the default, leaves attempts to ctx. Calls that
// Fly holds open on purpose get longer: a wait call its own timeout plus a
// grace, an exec its command timeout (or a minute) plus a grace.
func WithRequestTimeout(d time.Duration) Option {
	return func(c *Client) {
		if d <= 0 {
			c.reqTimeout = 0

			return
		}
		c.reqTimeout = min(max(d, minRequestTimeout), maxRequestTimeout)
	}
}

// WithoutPacing turns off client-side pacing. Use it only when something else
// paces requests, or against a server without Fly's rate limits.
func WithoutPacing() Option {
	return func(c *Client) {
		c.pacer = nil
	}
}

// WithUserAgent sets the User-Agent header. An empty value is ignored.
func WithUserAgent(ua string) Option {
	return func(c *Client) {
		if ua != "" {
			c.userAgent = ua
		}
	}
}

// CallOption adjusts one API call, for example to pass a lease nonce.
type CallOption func(*callSettings)

type callSettings struct {
	leaseNonce string
}

// LeaseNonce sends nonce in the fly-machine-lease-nonce header. Fly requires it
// on mutations of a machine that holds a lease (update, start, stop, restart,
// delete, exec); without it, or with a stale nonce, Fly answers 409.
func LeaseNonce(nonce string) CallOption {
	return func(s *callSettings) {
		s.leaseNonce = nonce
	}
}

// callHeader turns call options into request headers.
func callHeader(opts []CallOption) http.Header {
	var s callSettings
	for _, opt := range opts {
		opt(&s)
	}
	if s.leaseNonce == "" {
		return nil
	}

	return http.Header{leaseNonceHeader: []string{s.leaseNonce}}
}
