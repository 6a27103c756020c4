package flyclient

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// maxRetryAfter caps how long a Retry-After header can make the client wait.
const maxRetryAfter = 30 * time.Second

// errNoTimeLeft means the next retry would start after ctx's deadline.
var errNoTimeLeft = errors.New("no time left before the context deadline")

// IsTransient reports whether err is a failure that may pass if the same
// request is sent again: a 5xx (but not a capacity refusal), a 429, a 408 on
// an idempotent method (GET, HEAD, PUT, DELETE), a connection refused, reset
// or cut short (EOF), a DNS failure or a network timeout. A canceled or
// expired context is not transient: the caller gave up.
//
// Whether a transient failure is safe to retry also depends on the call:
// the client repeats a POST that may have reached Fly only where that is
// idempotent, and looks for the result of an uncertain create first.
func IsTransient(err error) bool {
	if err == nil || isContextError(err) {
		return false
	}
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		switch {
		case isCapacityError(apiErr):
			return false
		case apiErr.StatusCode == http.StatusRequestTimeout:
			return idempotentMethod(apiErr.Method)
		}

		return apiErr.StatusCode == http.StatusTooManyRequests ||
			apiErr.StatusCode >= http.StatusInternalServerError
	}

	return notSent(err) || brokenExchange(err)
}

// decide says whether a failed attempt of cl should be tried again, and
// whether the attempt may have reached Fly (so that repeating it could act
// twice). The rules:
//   - a 429 or a failure to connect never reached Fly's handler: try again;
//   - a 5xx, a 408, a reset or a timeout may have: try again only if cl is
//     idempotent, or is a create that will look for its result first;
//   - any other answer is a definite rejection, and a canceled context is
//     the caller's decision: stop.
func decide(cl *call, err error) (retry, reached bool) {
	if isContextError(err) {
		return false, true
	}
	repeatable := cl.idempotent || cl.lookup != nil

	var apiErr *APIError
	if errors.As(err, &apiErr) {
		switch {
		case apiErr.StatusCode == http.StatusTooManyRequests:
			return true, false
		case isCapacityError(apiErr):
			return false, true
		case apiErr.StatusCode == http.StatusRequestTimeout:
			return repeatable && !cl.keep408, true
		case apiErr.StatusCode >= http.StatusInternalServerError:
			return repeatable, true
		}

		return false, true
	}
	if notSent(err) {
		return true, false
	}

	return repeatable && brokenExchange(err), true
}

// notSent reports failures to connect at all: the request never left.
func notSent(err error) bool {
	var dnsErr *net.DNSError
	var opErr *net.OpError

	return errors.Is(err, syscall.ECONNREFUSED) ||
		errors.As(err, &dnsErr) ||
		errors.As(err, &opErr) && opErr.Op == "dial"
}

// brokenExchange reports a connection that failed after the request may have
// been sent: reset, closed early, or timed out.
func brokenExchange(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, errAttemptTimeout) ||
		isTimeout(err)
}

// isContextError reports a canceled or expired context.
func isContextError(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// isTimeout reports a network error that says it timed out.
func isTimeout(err error) bool {
	var ne net.Error

	return errors.As(err, &ne) && ne.Timeout()
}

// isCapacityError reports Fly refusing a placement for lack of capacity: a
// definite answer, better handled by picking another region than by waiting.
func isCapacityError(e *APIError) bool {
	return e.Code == "insufficient_capacity" || e.Code == "volume_placement_capacity"
}

func idempotentMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodOptions:
		return true
	}

	return false
}

// delay returns how long to wait before retry n (1-based): a random duration
// up to base·2^(n-1) capped at the client's maximum (full jitter), and never
// less than the Retry-After Fly sent.
func (c *Client) delay(n int, err error) time.Duration {
	ceiling := c.backoffMax
	if shift := n - 1; shift < 32 {
		if d := c.backoffBase << shift; d > 0 && d < ceiling {
			ceiling = d
		}
	}
	d := rand.N(ceiling + 1)

	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.retryAfter > d {
		d = apiErr.retryAfter
	}

	return d
}

// parseRetryAfter reads a Retry-After value, in seconds or as an HTTP date,
// capped at maxRetryAfter. Anything else, or a time past, gives zero.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		d = time.Duration(min(max(secs, 0), int64(maxRetryAfter/time.Second))) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}

	return min(max(d, 0), maxRetryAfter)
}

// sleep waits d or until ctx ends. It returns errNoTimeLeft at once when ctx's
// deadline comes before d would pass, since a retry could not finish anyway.
func sleep(ctx context.Context, d time.Duration) error {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		return errNoTimeLeft
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
