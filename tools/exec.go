package tools

import (
	"context"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/longrun/sandstorm"
)

type execArgs struct {
	Sandbox        string            `json:"sandbox" jsonschema:"required,description=Name of a running sandbox."`
	Command        string            `json:"command" jsonschema:"required,description=Shell command run by /bin/sh -c such as 'npm test 2>&1 | tail -50'."`
	Workdir        string            `json:"workdir,omitempty" jsonschema:"description=Absolute working directory. Default /data."`
	Env            map[string]string `json:"env,omitempty" jsonschema:"description=Extra environment variables for this command only."`
	TimeoutSeconds int               `json:"timeout_seconds,omitempty" jsonschema:"minimum=1,maximum=3600,description=Kill the command after this many seconds. Default 45. Commands allowed over 50 seconds run detached and report progress."`
}

// Exec is sandbox_exec.
func Exec(m *sandstorm.Manager) server.ServerTool {
	return define("sandbox_exec", "Run command in sandbox",
		"Run a shell command in a running sandbox and return its exit code with stdout "+
			"and stderr (the last 256 KiB of each; a flag says when earlier output was "+
			"dropped). A command that exceeds its timeout is killed and marked timed_out. "+
			"For agent work that should outlive the call use sessions instead.",
		hints{destructive: true, idempotent: false, openWorld: true},
		func(ctx context.Context, req mcp.CallToolRequest, a execArgs) (any, string, error) {
			res, err := m.Exec(ctx, sandstorm.ExecRequest{
				Sandbox: a.Sandbox, Command: a.Command, Workdir: a.Workdir, Env: a.Env,
				Timeout: secondsArg(a.TimeoutSeconds), Progress: progress(ctx, req),
			})
			if err != nil {
				return nil, "", err
			}
			summary := fmt.Sprintf("Exit code %d after %d ms.", res.ExitCode, res.DurationMS)
			if res.TimedOut {
				summary = fmt.Sprintf("Timed out after %d ms and was killed.", res.DurationMS)
			}

			return res, summary, nil
		})
}
