package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// selectLifecycle reads every sandbox with its lifecycle row, if any; the left join is
// what gives a sandbox with no row its default record.
const selectLifecycle = `SELECT s.name, l.phase, l.idle_since, l.warned_at, l.paused_at,
	l.last_used_at, l.hold_until, l.hold_reason, l.hold_actor, l.hold_set_at, l.policy,
	l.updated_at FROM sandboxes s LEFT JOIN lifecycle l ON l.sandbox = s.name`

// GetLifecycle implements [Store.GetLifecycle].
func (s *SQLite) GetLifecycle(ctx context.Context, sandbox string) (Lifecycle, error) {
	row := s.read.QueryRowContext(ctx, selectLifecycle+` WHERE s.name = ?`, sandbox)
	lc, err := scanLifecycle(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Lifecycle{}, fmt.Errorf("get lifecycle of %s: %w", sandbox, ErrNotFound)
	}
	if err != nil {
		return Lifecycle{}, fmt.Errorf("get lifecycle of %s: %w", sandbox, err)
	}

	return lc, nil
}

// ListLifecycles implements [Store.ListLifecycles].
func (s *SQLite) ListLifecycles(ctx context.Context) (map[string]Lifecycle, error) {
	rows, err := s.read.QueryContext(ctx, selectLifecycle)
	if err != nil {
		return nil, fmt.Errorf("list lifecycles: %w", err)
	}
	defer rows.Close()

	lcs := map[string]Lifecycle{}
	for rows.Next() {
		lc, err := scanLifecycle(rows)
		if err != nil {
			return nil, fmt.Errorf("list lifecycles: %w", err)
		}
		lcs[lc.Sandbox] = lc
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list lifecycles: %w", err)
	}

	return lcs, nil
}

// UpdateLifecycle implements [Store.UpdateLifecycle]. The write pool begins transactions
// with BEGIN IMMEDIATE, so the first read already holds the database's write lock and a
// concurrent update, from this process or another, waits for this one to commit.
func (s *SQLite) UpdateLifecycle(
	ctx context.Context,
	sandbox string,
	fn func(*Lifecycle) error,
) (Lifecycle, error) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return Lifecycle{}, fmt.Errorf("update lifecycle of %s: %w", sandbox, err)
	}
	defer rollback(tx)

	row := tx.QueryRowContext(ctx, selectLifecycle+` WHERE s.name = ?`, sandbox)
	old, err := scanLifecycle(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Lifecycle{}, fmt.Errorf("update lifecycle of %s: %w", sandbox, ErrNotFound)
	}
	if err != nil {
		return Lifecycle{}, fmt.Errorf("update lifecycle of %s: %w", sandbox, err)
	}

	lc := old
	if err := fn(&lc); err != nil {
		return Lifecycle{}, fmt.Errorf("update lifecycle of %s: %w", sandbox, err)
	}
	if err := validateLifecycle(old, lc); err != nil {
		return Lifecycle{}, fmt.Errorf("update lifecycle of %s: %w", sandbox, err)
	}
	lc = s.normalizeLifecycle(lc)

	if err := writeLifecycle(ctx, tx, lc); err != nil {
		return Lifecycle{}, fmt.Errorf("update lifecycle of %s: %w", sandbox, err)
	}
	if err := tx.Commit(); err != nil {
		return Lifecycle{}, fmt.Errorf("update lifecycle of %s: %w", sandbox, err)
	}

	return lc, nil
}

// normalizeLifecycle puts a record in the form it is stored in: times in UTC, a hold's
// zero SetAt as now, and UpdatedAt now. It copies the hold rather than edit the caller's.
func (s *SQLite) normalizeLifecycle(lc Lifecycle) Lifecycle {
	lc.IdleSince = lc.IdleSince.UTC()
	lc.WarnedAt = lc.WarnedAt.UTC()
	lc.PausedAt = lc.PausedAt.UTC()
	lc.LastUsedAt = lc.LastUsedAt.UTC()
	if lc.Hold != nil {
		h := *lc.Hold
		h.Until = h.Until.UTC()
		h.SetAt = s.stamp(h.SetAt)
		lc.Hold = &h
	}
	lc.UpdatedAt = s.stamp(time.Time{})

	return lc
}

// writeLifecycle inserts or replaces the sandbox's lifecycle row with lc.
func writeLifecycle(ctx context.Context, tx *sql.Tx, lc Lifecycle) error {
	var (
		until, setAt  sql.NullString
		reason, actor string
	)
	if lc.Hold != nil {
		until, setAt = nullTime(lc.Hold.Until), nullTime(lc.Hold.SetAt)
		reason, actor = lc.Hold.Reason, lc.Hold.Actor
	}

	_, err := tx.ExecContext(ctx, `INSERT INTO lifecycle (sandbox, phase, idle_since,
		warned_at, paused_at, last_used_at, hold_until, hold_reason, hold_actor, hold_set_at,
		policy, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (sandbox) DO UPDATE SET phase = excluded.phase,
		idle_since = excluded.idle_since, warned_at = excluded.warned_at,
		paused_at = excluded.paused_at, last_used_at = excluded.last_used_at,
		hold_until = excluded.hold_until, hold_reason = excluded.hold_reason,
		hold_actor = excluded.hold_actor, hold_set_at = excluded.hold_set_at,
		policy = excluded.policy, updated_at = excluded.updated_at`,
		lc.Sandbox, lc.Phase, nullTime(lc.IdleSince), nullTime(lc.WarnedAt),
		nullTime(lc.PausedAt), nullTime(lc.LastUsedAt), until, reason, actor, setAt,
		nullJSON(lc.Policy), nullTime(lc.UpdatedAt),
	)

	return err
}

// TouchSandbox implements [Store.TouchSandbox] in one upsert. Stored times are
// fixed-width UTC text, so MAX over the text picks the later time.
func (s *SQLite) TouchSandbox(ctx context.Context, sandbox string, at time.Time) error {
	res, err := s.write.ExecContext(ctx, `INSERT INTO lifecycle (sandbox, last_used_at)
		SELECT ?, ? WHERE EXISTS (SELECT 1 FROM sandboxes WHERE name = ?)
		ON CONFLICT (sandbox) DO UPDATE SET last_used_at =
		MAX(COALESCE(lifecycle.last_used_at, excluded.last_used_at), excluded.last_used_at)`,
		sandbox, formatTime(s.stamp(at)), sandbox,
	)
	if err := requireRow(res, err, "sandbox "+sandbox); err != nil {
		return fmt.Errorf("touch sandbox %s: %w", sandbox, err)
	}

	return nil
}

// RecordTransition implements [Store.RecordTransition].
func (s *SQLite) RecordTransition(ctx context.Context, t Transition) error {
	if err := validateTransition(t); err != nil {
		return fmt.Errorf("record transition of %s: %w", t.Sandbox, err)
	}
	reasons := t.Reasons
	if reasons == nil {
		reasons = []string{}
	}
	doc, err := json.Marshal(reasons)
	if err != nil {
		return fmt.Errorf("record transition of %s: %w", t.Sandbox, err)
	}

	res, err := s.write.ExecContext(ctx, `INSERT INTO lifecycle_transitions
		(sandbox, from_phase, to_phase, actor, reasons, at)
		SELECT ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM sandboxes WHERE name = ?)`,
		t.Sandbox, t.From, t.To, t.Actor, string(doc), formatTime(s.stamp(t.At)), t.Sandbox,
	)
	if err := requireRow(res, err, "sandbox "+t.Sandbox); err != nil {
		return fmt.Errorf("record transition of %s: %w", t.Sandbox, err)
	}

	return nil
}

// Transitions implements [Store.Transitions].
func (s *SQLite) Transitions(
	ctx context.Context,
	sandbox string,
	limit int,
) ([]Transition, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT sandbox, from_phase, to_phase, actor,
		reasons, at FROM lifecycle_transitions WHERE sandbox = ?
		ORDER BY at DESC, id DESC LIMIT ?`,
		sandbox, clampLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("read transitions of %s: %w", sandbox, err)
	}
	defer rows.Close()

	ts := []Transition{}
	for rows.Next() {
		t, err := scanTransition(rows)
		if err != nil {
			return nil, fmt.Errorf("read transitions of %s: %w", sandbox, err)
		}
		ts = append(ts, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read transitions of %s: %w", sandbox, err)
	}

	return ts, nil
}

func scanTransition(row rowScanner) (Transition, error) {
	var (
		t           Transition
		reasons, at string
	)
	err := row.Scan(&t.Sandbox, &t.From, &t.To, &t.Actor, &reasons, &at)
	if err != nil {
		return Transition{}, err
	}
	if err := json.Unmarshal([]byte(reasons), &t.Reasons); err != nil {
		return Transition{}, fmt.Errorf("decode stored reasons: %w", err)
	}
	if t.Reasons == nil {
		t.Reasons = []string{}
	}
	if t.At, err = parseTime(at); err != nil {
		return Transition{}, err
	}

	return t, nil
}

// scanLifecycle reads a row of selectLifecycle; a sandbox with no lifecycle row has NULL
// in every lifecycle column and reads as the default record.
func scanLifecycle(row rowScanner) (Lifecycle, error) {
	var (
		lc                           Lifecycle
		phase, reason, actor, policy sql.NullString
		idle, warned, paused, used   sql.NullString
		until, setAt, updated        sql.NullString
		holdUntil, holdSetAt         time.Time
	)
	err := row.Scan(&lc.Sandbox, &phase, &idle, &warned, &paused, &used, &until, &reason,
		&actor, &setAt, &policy, &updated)
	if err != nil {
		return Lifecycle{}, err
	}

	lc.Phase = PhaseActive
	if phase.Valid {
		lc.Phase = phase.String
	}
	lc.Policy = rawJSON(policy)
	for _, f := range []struct {
		dst *time.Time
		src sql.NullString
	}{
		{&lc.IdleSince, idle}, {&lc.WarnedAt, warned}, {&lc.PausedAt, paused},
		{&lc.LastUsedAt, used}, {&holdUntil, until}, {&holdSetAt, setAt},
		{&lc.UpdatedAt, updated},
	} {
		if *f.dst, err = parseNullTime(f.src); err != nil {
			return Lifecycle{}, err
		}
	}
	if until.Valid {
		lc.Hold = &Hold{
			Until:  holdUntil,
			Reason: reason.String,
			Actor:  actor.String,
			SetAt:  holdSetAt,
		}
	}

	return lc, nil
}
