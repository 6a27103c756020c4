package machine

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"
)

// cancelGrace bounds how long Exec waits, after ctx ends, for the init to confirm
// that it killed the command.
const cancelGrace = 10 * time.Second

// Exec runs req.Argv inside the machine, in its namespaces and root, and returns
// once the command has exited, with what it wrote. The command runs in a process
// group of its own with the machine's environment merged with req.Env, in req.Dir,
// reading req.Stdin. When req.Timeout expires, or ctx ends, Exec kills the whole
// group; on a timeout it returns the output so far with TimedOut set, and when ctx
// ends it returns the output so far and ctx's error. Processes the command leaves
// behind outside that group, or after it exits, keep running until the machine stops.
//
// A command that cannot be executed is a result, as in a shell: exit code 127 when
// it is not found, 126 otherwise, with a message on stderr. Errors are for requests
// that cannot run at all: an empty argv, a missing working directory, or a machine
// that is not running, which matches ErrNotRunning.
func (m *Machine) Exec(ctx context.Context, req ExecRequest) (ExecResult, error) {
	if err := checkExecRequest(req); err != nil {
		return ExecResult{}, fmt.Errorf("exec in machine %s: %w", m.id, err)
	}
	if err := ctx.Err(); err != nil {
		return ExecResult{}, fmt.Errorf("exec in machine %s: %w", m.id, err)
	}
	if m.exited() {
		return ExecResult{}, fmt.Errorf("exec in machine %s: %w", m.id, ErrNotRunning)
	}

	conn, err := m.openExec()
	if err != nil {
		return ExecResult{}, fmt.Errorf("exec in machine %s: %w", m.id, err)
	}
	defer conn.Close()
	payload, err := json.Marshal(req)
	if err != nil {
		return ExecResult{}, fmt.Errorf("exec in machine %s: encode request: %w", m.id, err)
	}
	if err := writeFrame(conn, frameRequest, payload); err != nil {
		return ExecResult{}, fmt.Errorf("exec in machine %s: %w", m.id, ErrNotRunning)
	}
	stop := context.AfterFunc(ctx, func() {
		conn.CloseWrite()
		conn.SetReadDeadline(time.Now().Add(cancelGrace))
	})
	defer stop()

	res, out, err := readExec(conn)
	switch {
	case ctx.Err() != nil && (err != nil || out.Canceled):
		return res, fmt.Errorf("exec in machine %s: %w", m.id, ctx.Err())
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return res, fmt.Errorf("exec in machine %s: machine exited: %w", m.id, ErrNotRunning)
	case err != nil:
		return res, fmt.Errorf("exec in machine %s: %w", m.id, err)
	case out.Error != "":
		return res, fmt.Errorf("exec in machine %s: %s", m.id, out.Error)
	}

	return res, nil
}

// checkExecRequest rejects requests that cannot run in any machine.
func checkExecRequest(req ExecRequest) error {
	if len(req.Argv) == 0 {
		return errors.New("argv is empty")
	}
	if err := checkArgv(req.Argv); err != nil {
		return err
	}

	return checkEnv(req.Env)
}

// openExec creates a socket pair, hands one end to the init and returns the other.
func (m *Machine) openExec() (*net.UnixConn, error) {
	local, remote, err := socketPair(syscall.SOCK_STREAM)
	if err != nil {
		return nil, err
	}
	defer remote.Close()
	if err := m.sendCtl(ctlMsg{Op: opExec}, remote); err != nil {
		local.Close()

		return nil, ErrNotRunning
	}

	return unixConn(local)
}

// readExec collects output frames until the result frame. It returns what it has
// with the error when the stream ends early.
func readExec(conn io.Reader) (ExecResult, execOutcome, error) {
	r := bufio.NewReaderSize(conn, 64<<10)
	var res ExecResult
	for {
		kind, payload, err := readFrame(r)
		if err != nil {
			return res, execOutcome{}, err
		}
		switch kind {
		case frameStdout:
			res.Stdout = append(res.Stdout, payload...)
		case frameStderr:
			res.Stderr = append(res.Stderr, payload...)
		case frameResult:
			var out execOutcome
			if err := json.Unmarshal(payload, &out); err != nil {
				return res, out, fmt.Errorf("decode exec result: %w", err)
			}
			res.ExitCode, res.Signal, res.TimedOut = out.ExitCode, out.Signal, out.TimedOut

			return res, out, nil
		default:
			return res, execOutcome{}, fmt.Errorf("unexpected exec frame %q", kind)
		}
	}
}
