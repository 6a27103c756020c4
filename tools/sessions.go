package tools

import (
	"context"
	"fmt"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/longrun/sandstorm"
	"github.com/longrun/sandstorm/persona"
)

type personaArgs struct {
	Dir   string            `json:"dir,omitempty" jsonschema:"description=A directory on the server host holding the persona's files (CLAUDE.md and .claude/ for Claude Code)."`
	Files map[string]string `json:"files,omitempty" jsonschema:"description=The persona's files as relative path -> content. Give dir or files."`
}

func (p *personaArgs) source() *persona.Source {
	if p == nil {
		return nil
	}

	return &persona.Source{Dir: p.Dir, Files: p.Files}
}

type syncPersonaArgs struct {
	Sandbox     string            `json:"sandbox" jsonschema:"required,description=Name of a running sandbox."`
	Persona     *personaArgs      `json:"persona,omitempty" jsonschema:"description=The persona to deploy. Default: re-read the directory the sandbox was created with."`
	PersonaVars map[string]string `json:"persona_vars,omitempty" jsonschema:"description=Values for the persona's {{key}} placeholders. Default: the values given before."`
}

// SyncPersona is sandbox_sync_persona.
func SyncPersona(m *sandstorm.Manager) server.ServerTool {
	return define("sandbox_sync_persona", "Sync sandbox persona",
		"Re-read a sandbox's persona, fill in its {{key}} variables and deploy it again "+
			"where the sandbox's agent reads it. Returns the persona version and the files "+
			"written.",
		hints{destructive: true, idempotent: true, openWorld: true},
		func(ctx context.Context, _ mcp.CallToolRequest, a syncPersonaArgs) (any, string, error) {
			res, err := m.SyncSandbox(ctx, sandstorm.SyncPersonaRequest{Sandbox: a.Sandbox,
				Source: a.Persona.source(), Vars: a.PersonaVars})
			if err != nil {
				return nil, "", err
			}

			return res, fmt.Sprintf("Persona of %s is %s (%d files).", a.Sandbox, res.Version,
				len(res.Files)), nil
		})
}

type sessionStartArgs struct {
	Sandbox    string            `json:"sandbox" jsonschema:"required,description=Name of a running sandbox."`
	Identifier string            `json:"identifier" jsonschema:"required,description=Names the line of work such as fix-login; session_logs and session_status without session_id use its latest session."`
	Prompt     string            `json:"prompt" jsonschema:"required,description=The task for the agent. Up to 128 KiB."`
	Agent      string            `json:"agent,omitempty" jsonschema:"description=Agent to run: claude-code or codex or a configured command agent. Default: the sandbox's agent or claude-code."`
	Env        map[string]string `json:"env,omitempty" jsonschema:"description=Extra environment variables for this session only."`
	Model      string            `json:"model,omitempty" jsonschema:"description=Model name or alias for the agent."`
	MaxTurns   int               `json:"max_turns,omitempty" jsonschema:"minimum=1,description=Cap on the agent's turns."`
}

// SessionStart is session_start.
func SessionStart(m *sandstorm.Manager) server.ServerTool {
	return define("session_start", "Start agent session",
		"Start a coding agent on a prompt in a running sandbox, in the background: it keeps "+
			"running after this call, after the client disconnects and after the server "+
			"restarts. Returns the session id and log paths; follow it with session_logs "+
			"(cursor and wait_ms) and collect the result with session_status.",
		hints{destructive: true, idempotent: false, openWorld: true},
		func(ctx context.Context, _ mcp.CallToolRequest, a sessionStartArgs) (any, string, error) {
			s, err := m.StartAgentSession(ctx, sandstorm.StartSessionRequest{
				Sandbox: a.Sandbox, Identifier: a.Identifier, Prompt: a.Prompt, Agent: a.Agent,
				Env: a.Env, Options: headless(a.Model, a.MaxTurns),
			})
			if err != nil {
				return nil, "", err
			}

			return s, fmt.Sprintf("Session %s of %s started with %s.", s.ID, a.Sandbox,
				s.Agent), nil
		})
}

type sessionRefArgs struct {
	Sandbox    string `json:"sandbox" jsonschema:"required,description=Name of the sandbox."`
	Identifier string `json:"identifier,omitempty" jsonschema:"description=Use the latest session with this identifier. Give identifier or session_id."`
	SessionID  string `json:"session_id,omitempty" jsonschema:"description=The session to use."`
}

// SessionStatus is session_status.
func SessionStatus(m *sandstorm.Manager) server.ServerTool {
	return define("session_status", "Agent session status",
		"Report whether a session is running or how it finished: status (running, finished, "+
			"failed, stopped, lost), exit code, and the agent's final result, cost and tokens.",
		hints{readOnly: true, idempotent: true, openWorld: true},
		func(ctx context.Context, _ mcp.CallToolRequest, a sessionRefArgs) (any, string, error) {
			s, err := m.SessionStatus(ctx, a.Sandbox, a.Identifier, a.SessionID)
			if err != nil {
				return nil, "", err
			}

			return s, fmt.Sprintf("Session %s is %s.", s.ID, s.Status), nil
		})
}

// SessionStop is session_stop.
func SessionStop(m *sandstorm.Manager) server.ServerTool {
	return define("session_stop", "Stop agent session",
		"Stop a running session: its whole process group gets SIGTERM, then SIGKILL after "+
			"five seconds. Its log stays readable.",
		hints{destructive: true, idempotent: true, openWorld: true},
		func(ctx context.Context, _ mcp.CallToolRequest, a sessionRefArgs) (any, string, error) {
			s, err := m.StopSession(ctx, a.Sandbox, a.Identifier, a.SessionID)
			if err != nil {
				return nil, "", err
			}

			return s, fmt.Sprintf("Session %s is %s.", s.ID, s.Status), nil
		})
}

type sessionListArgs struct {
	Sandbox    string `json:"sandbox" jsonschema:"required,description=Name of the sandbox."`
	Identifier string `json:"identifier,omitempty" jsonschema:"description=Only sessions with this identifier."`
}

type sessionList struct {
	Sessions []sandstorm.Session `json:"sessions"`
}

// SessionList is session_list.
func SessionList(m *sandstorm.Manager) server.ServerTool {
	return define("session_list", "List agent sessions",
		"List a sandbox's agent sessions, newest first, with their status and results.",
		hints{readOnly: true, idempotent: true, openWorld: true},
		func(ctx context.Context, _ mcp.CallToolRequest, a sessionListArgs) (any, string, error) {
			list, err := m.ListSessions(ctx, a.Sandbox, a.Identifier)
			if err != nil {
				return nil, "", err
			}

			return sessionList{Sessions: list}, fmt.Sprintf("%d sessions.", len(list)), nil
		})
}

type sessionLogsArgs struct {
	Sandbox    string `json:"sandbox" jsonschema:"required,description=Name of the sandbox."`
	Identifier string `json:"identifier,omitempty" jsonschema:"description=Read the latest session with this identifier. Give identifier or session_id."`
	SessionID  string `json:"session_id,omitempty" jsonschema:"description=The session to read."`
	Cursor     *int64 `json:"cursor,omitempty" jsonschema:"minimum=0,description=Byte offset to read from: the next_cursor of the previous call. Omit to read the last lines."`
	MaxBytes   int    `json:"max_bytes,omitempty" jsonschema:"minimum=1,maximum=1048576,description=Most bytes to return. Default 65536."`
	Lines      int    `json:"lines,omitempty" jsonschema:"minimum=0,description=Without cursor: return the last this many lines (default: from the start). With cursor: at most this many lines."`
	WaitMS     int    `json:"wait_ms,omitempty" jsonschema:"minimum=0,maximum=60000,description=Wait up to this long for new output when there is none yet. Default 0."`
}

// SessionLogs is session_logs.
func SessionLogs(m *sandstorm.Manager) server.ServerTool {
	return define("session_logs", "Read agent session log",
		"Read a session's log. Pass the returned next_cursor as cursor to continue exactly "+
			"where the last call stopped: no line is skipped or repeated while the log grows. "+
			"With wait_ms the call waits for new output, so a loop of calls follows the agent "+
			"live. running is false once the session has ended and more is false once "+
			"everything is read.",
		hints{readOnly: true, idempotent: true, openWorld: true},
		func(ctx context.Context, _ mcp.CallToolRequest, a sessionLogsArgs) (any, string, error) {
			c, err := m.GetSessionLogs(ctx, sandstorm.LogsRequest{Sandbox: a.Sandbox,
				Identifier: a.Identifier, SessionID: a.SessionID, Cursor: a.Cursor,
				MaxBytes: a.MaxBytes, Lines: a.Lines,
				Wait: time.Duration(a.WaitMS) * time.Millisecond})
			if err != nil {
				return nil, "", err
			}
			state := "running"
			if !c.Running {
				state = c.Status
			}

			return c, fmt.Sprintf("Bytes %d-%d of %d; session %s.", c.Cursor, c.NextCursor,
				c.Size, state), nil
		})
}
