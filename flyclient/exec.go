package flyclient

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

const (
	// defaultExecHold is how long Fly may hold an exec without a timeout;
	// its proxy answers within about a minute.
	defaultExecHold = time.Minute
	// execGrace is allowed past the command's own time for the answer.
	execGrace = 10 * time.Second
)

// execHold is how long one exec attempt may take for a command timeout in
// seconds (zero: Fly's default).
func execHold(secs int) time.Duration {
	if secs <= 0 {
		return defaultExecHold + execGrace
	}

	return time.Duration(secs)*time.Second + execGrace
}

// Exec runs a command in a started machine and returns its output: POST
// /v1/apps/{app}/machines/{id}/exec. req.Command is an argv, run without a
// shell; wrap it as ["sh", "-c", line] for pipes. Fly buffers the output and
// answers within about a minute at most, so run longer work detached. A
// leased machine needs LeaseNonce. A non-zero exit is not an error: read
// ExitCode.
//
// Exec is not idempotent, so it is repeated only when Fly provably never saw
// it (a refused connection or a 429), never after a reset, timeout or 5xx that
// may have run the command already.
func (c *Client) Exec(
	ctx context.Context,
	app, id string,
	req ExecRequest,
	opts ...CallOption,
) (*ExecResponse, error) {
	if err := required("app name", app, "machine id", id); err != nil {
		return nil, fmt.Errorf("exec in machine: %w", err)
	}
	if len(req.Command) == 0 {
		return nil, fmt.Errorf("exec in machine %s: flyclient: command is required", id)
	}

	var resp ExecResponse
	cl := c.newCall(http.MethodPost, machinePath(app, id)+"/exec")
	cl.header = callHeader(opts)
	if c.reqTimeout > 0 {
		// The command needs its own time, not the generic request limit.
		cl.timeout = execHold(req.Timeout)
	}
	if err := cl.setJSON(req); err != nil {
		return nil, fmt.Errorf("exec in machine %s: %w", id, err)
	}
	if err := c.do(ctx, cl, &resp); err != nil {
		return nil, fmt.Errorf("exec in machine %s: %w", id, err)
	}

	return &resp, nil
}
