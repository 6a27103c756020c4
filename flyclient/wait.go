package flyclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const (
	// Fly's wait endpoint accepts a timeout of 1..60 seconds.
	minWaitCall = time.Second
	maxWaitCall = 60 * time.Second
	// defaultWait is the total wait when WaitOptions.Timeout is zero.
	defaultWait = 60 * time.Second
	// waitGrace is how long past its own timeout one wait call may take
	// before the client gives up on the connection.
	waitGrace = 10 * time.Second
)

// WaitOptions says what WaitMachine waits for.
type WaitOptions struct {
	// States are the states any of which ends the wait; default "started".
	// Fly also accepts "settled" for any non-transient state.
	States []string
	// Version waits on a specific instance_id, as returned by an update.
	Version string
	// Timeout bounds the whole wait; default 60s, at least 1s.
	Timeout time.Duration
}

// WaitMachine waits until a machine reaches one of opts.States: GET
// /v1/apps/{app}/machines/{id}/wait?state=...&timeout=...&version=....
//
// Fly holds each call for at most 60 seconds and answers 408 when the state
// was not reached. WaitMachine sends calls with a timeout of the time left,
// clamped to 1..60 seconds, and calls again on 408 until opts.Timeout has
// passed. It then returns an error matching ErrTimeout; so it does when ctx's
// deadline passes first, together with context.DeadlineExceeded. When ctx is
// canceled it returns context.Canceled.
func (c *Client) WaitMachine(
	ctx context.Context,
	app, id string,
	opts WaitOptions,
) (*WaitResponse, error) {
	if err := required("app name", app, "machine id", id); err != nil {
		return nil, fmt.Errorf("wait for machine: %w", err)
	}
	states := opts.States
	if len(states) == 0 {
		states = []string{StateStarted}
	}
	total := opts.Timeout
	if total <= 0 {
		total = defaultWait
	}
	total = max(total, minWaitCall)
	now := time.Now()
	deadline := now.Add(total)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		// Ask Fly to answer before ctx ends, so no call is cut off midway.
		deadline = dl
	}
	wrap := func(err error) error {
		return fmt.Errorf("wait for machine %s to be %s: %w", id, strings.Join(states, "|"), err)
	}

	var last error
	for n := 1; ; n++ {
		left := deadline.Sub(now)
		if left < minWaitCall && last != nil {
			return nil, wrap(fmt.Errorf("%w after %s: %w", ErrTimeout, total, last))
		}
		per := waitCallTimeout(left)

		resp, err := c.waitOnce(ctx, app, id, states, opts.Version, per)
		switch {
		case err == nil:
			return resp, nil
		case errors.Is(err, context.DeadlineExceeded):
			return nil, wrap(fmt.Errorf("%w: %w", ErrTimeout, err))
		case !errors.Is(err, ErrTimeout):
			return nil, wrap(err)
		}
		last = err

		// A 408 that came back early means the server does not hold calls;
		// back off instead of spinning.
		if time.Since(now) < per/2 {
			d := min(c.delay(n, nil), max(time.Until(deadline), 0))
			if err := sleep(ctx, d); errors.Is(err, context.Canceled) {
				return nil, wrap(err)
			} else if err != nil {
				return nil, wrap(fmt.Errorf("%w: %w", ErrTimeout, err))
			}
		}
		now = time.Now()
	}
}

// waitCallTimeout clamps the time left to what one wait call may ask for,
// in whole seconds.
func waitCallTimeout(left time.Duration) time.Duration {
	return min(max(left.Truncate(time.Second), minWaitCall), maxWaitCall)
}

// waitOnce sends one wait call holding for at most per.
func (c *Client) waitOnce(
	ctx context.Context,
	app, id string,
	states []string,
	version string,
	per time.Duration,
) (*WaitResponse, error) {
	q := url.Values{
		"state":   states,
		"timeout": {strconv.Itoa(int(per / time.Second))},
	}
	if version != "" {
		q.Set("version", version)
	}

	var resp WaitResponse
	cl := c.newCall(http.MethodGet, machinePath(app, id)+"/wait")
	cl.query = q
	cl.keep408 = true
	cl.timeout = per + waitGrace
	if err := c.do(ctx, cl, &resp); err != nil {
		return nil, err
	}

	return &resp, nil
}
