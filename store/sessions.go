package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Session statuses.
const (
	SessionRunning  = "running"
	SessionFinished = "finished"
	SessionFailed   = "failed"
	SessionStopped  = "stopped"
	// SessionLost is a session whose process is gone without an exit code,
	// as after its machine was paused or restarted.
	SessionLost = "lost"
)

// Session is one agent run in a sandbox. ExitCode is nil while it runs or when
// it ended without one.
type Session struct {
	ID             string
	Sandbox        string
	Identifier     string
	Agent          string
	LogPath        string
	Status         string
	ExitCode       *int
	Result         string
	Error          string
	AgentSessionID string
	CostUSD        float64
	InputTokens    int64
	OutputTokens   int64
	StartedAt      time.Time
	FinishedAt     time.Time
}

func validateSession(s Session) error {
	switch {
	case s.ID == "" || s.Sandbox == "" || s.Identifier == "" || s.Agent == "" || s.LogPath == "":
		return fmt.Errorf("%w: session needs id, sandbox, identifier, agent and log path",
			ErrInvalid)
	}
	switch s.Status {
	case SessionRunning, SessionFinished, SessionFailed, SessionStopped, SessionLost:
		return nil
	}

	return fmt.Errorf("%w: unknown session status %q", ErrInvalid, s.Status)
}

// PutSession implements [Store.PutSession].
func (s *SQLite) PutSession(ctx context.Context, sess Session) error {
	if err := validateSession(sess); err != nil {
		return fmt.Errorf("put session %s: %w", sess.ID, err)
	}
	var finished sql.NullString
	if !sess.FinishedAt.IsZero() {
		finished = sql.NullString{String: formatTime(sess.FinishedAt), Valid: true}
	}
	var exit sql.NullInt64
	if sess.ExitCode != nil {
		exit = sql.NullInt64{Int64: int64(*sess.ExitCode), Valid: true}
	}
	res, err := s.write.ExecContext(ctx, `INSERT INTO sessions (id, sandbox, identifier, agent,
		log_path, status, exit_code, result, error, agent_session_id, cost_usd, input_tokens,
		output_tokens, started_at, finished_at)
		SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?
		WHERE EXISTS (SELECT 1 FROM sandboxes WHERE name = ?)
		ON CONFLICT (id) DO UPDATE SET status = excluded.status,
		exit_code = excluded.exit_code, result = excluded.result, error = excluded.error,
		agent_session_id = excluded.agent_session_id, cost_usd = excluded.cost_usd,
		input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens,
		finished_at = excluded.finished_at`,
		sess.ID, sess.Sandbox, sess.Identifier, sess.Agent, sess.LogPath, sess.Status, exit,
		sess.Result, sess.Error, sess.AgentSessionID, sess.CostUSD, sess.InputTokens,
		sess.OutputTokens, formatTime(s.stamp(sess.StartedAt)), finished, sess.Sandbox)
	if err := requireRow(res, err, "sandbox "+sess.Sandbox); err != nil {
		return fmt.Errorf("put session %s: %w", sess.ID, err)
	}

	return nil
}

const sessionColumns = `id, sandbox, identifier, agent, log_path, status, exit_code, result,
	error, agent_session_id, cost_usd, input_tokens, output_tokens, started_at, finished_at`

// GetSession implements [Store.GetSession].
func (s *SQLite) GetSession(ctx context.Context, sandbox, id string) (Session, error) {
	row := s.read.QueryRowContext(ctx, `SELECT `+sessionColumns+` FROM sessions
		WHERE sandbox = ? AND id = ?`, sandbox, id)
	sess, err := scanSession(row)
	if err == sql.ErrNoRows {
		return sess, fmt.Errorf("session %s of %s: %w", id, sandbox, ErrNotFound)
	}
	if err != nil {
		return sess, fmt.Errorf("get session %s: %w", id, err)
	}

	return sess, nil
}

// ListSessions implements [Store.ListSessions].
func (s *SQLite) ListSessions(ctx context.Context, sandbox, identifier string) ([]Session, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+sessionColumns+` FROM sessions
		WHERE sandbox = ? AND (? = '' OR identifier = ?)
		ORDER BY started_at DESC, id DESC`, sandbox, identifier, identifier)
	if err != nil {
		return nil, fmt.Errorf("list sessions of %s: %w", sandbox, err)
	}
	defer rows.Close()
	out := []Session{}
	for rows.Next() {
		sess, err := scanSession(rows)
		if err != nil {
			return nil, fmt.Errorf("list sessions of %s: %w", sandbox, err)
		}
		out = append(out, sess)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list sessions of %s: %w", sandbox, err)
	}

	return out, nil
}

func scanSession(row interface{ Scan(...any) error }) (Session, error) {
	var (
		sess     Session
		exit     sql.NullInt64
		started  string
		finished sql.NullString
	)
	err := row.Scan(&sess.ID, &sess.Sandbox, &sess.Identifier, &sess.Agent, &sess.LogPath,
		&sess.Status, &exit, &sess.Result, &sess.Error, &sess.AgentSessionID, &sess.CostUSD,
		&sess.InputTokens, &sess.OutputTokens, &started, &finished)
	if err != nil {
		return sess, err
	}
	if exit.Valid {
		code := int(exit.Int64)
		sess.ExitCode = &code
	}
	if sess.StartedAt, err = parseTime(started); err != nil {
		return sess, err
	}
	if finished.Valid {
		sess.FinishedAt, err = parseTime(finished.String)
	}

	return sess, err
}
