package sandstorm

import (
	"context"

	"strings"
	"time"
)

// Exec limits: commands up to the exec window run in one call; longer ones, up
// to MaxExecTimeout, run detached and are polled. The default fits the window,
// so a command given no timeout costs one exec.
const (
	DefaultExecTimeout = 45 * time.Second
	MaxExecTimeout     = time.Hour
)

// ExecRequest is a shell command to run in a sandbox through /bin/sh -c.
type ExecRequest struct {
	Sandbox  string
	Command  string
	Workdir  string
	Env      map[string]string
	Timeout  time.Duration
	Progress ProgressFunc
}

// Exec runs a command in a running sandbox and returns its output and exit
// code. A command that outlives its timeout is killed and reported TimedOut.
func (m *Manager) Exec(ctx context.Context, r ExecRequest) (res *ExecResult, err error) {
	start := m.now()
	args := map[string]any{"command": r.Command, "workdir": r.Workdir,
		"env_names": mergeEnvNames(nil, r.Env, nil), "timeout_seconds": int(r.Timeout.Seconds())}
	defer func() { m.audit("exec", r.Sandbox, args, start, err) }()
	if strings.TrimSpace(r.Command) == "" {
		return nil, invalidf("Give a shell command, like \"ls -la /data\".", "command is empty")
	}
	if strings.ContainsRune(r.Command, 0) {
		return nil, invalidf("Remove the NUL byte.", "command contains a NUL byte")
	}
	if r.Workdir == "" {
		r.Workdir = MountPath
	}
	if err := checkPath(r.Workdir); err != nil {
		return nil, err
	}
	if err := validateEnv(r.Env); err != nil {
		return nil, err
	}
	if r.Timeout == 0 {
		r.Timeout = DefaultExecTimeout
	}
	if r.Timeout < time.Second || r.Timeout > MaxExecTimeout {
		return nil, invalidf("Use 1 to 3600 seconds.", "timeout %s is out of range", r.Timeout)
	}
	t, err := m.running(ctx, r.Sandbox)
	if err != nil {
		return nil, err
	}

	res, err = m.run(ctx, t, script{code: r.Command, env: r.Env, dir: r.Workdir,
		timeout: r.Timeout, progress: r.Progress})
	if err != nil {
		return nil, err
	}
	capOutput(res)

	return res, nil
}

// running returns the machine of a running sandbox, or an error that says how
// to get it running.
func (m *Manager) running(ctx context.Context, name string) (target, error) {
	rec, err := m.record(ctx, name)
	if err != nil {
		return target{}, err
	}
	switch {
	case rec.Status == StatusPaused:
		return target{}, stateError("Call sandbox_resume first.", "sandbox %q is paused", name)
	case rec.Status != StatusRunning || rec.MachineID == "":
		return target{}, stateError("Call sandbox_get to see why.",
			"sandbox %q is %s, not running", name, rec.Status)
	}

	return target{app: rec.App, machineID: rec.MachineID}, nil
}
