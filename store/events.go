package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// RecordEvent implements [Store.RecordEvent].
func (s *SQLite) RecordEvent(ctx context.Context, e Event) error {
	if err := validateEvent(e); err != nil {
		return fmt.Errorf("record event %s: %w", e.Operation, err)
	}

	_, err := s.write.ExecContext(ctx, `INSERT INTO events
		(at, sandbox, operation, actor, args, outcome, error, duration_ns)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		formatTime(s.stamp(e.At)), e.Sandbox, e.Operation, e.Actor, nullJSON(e.Args),
		e.Outcome, e.Error, int64(e.Duration),
	)
	if err != nil {
		return fmt.Errorf("record event %s: %w", e.Operation, err)
	}

	return nil
}

// Events implements [Store.Events].
func (s *SQLite) Events(ctx context.Context, f EventFilter) ([]Event, error) {
	var (
		where []string
		args  []any
	)
	if f.Sandbox != "" {
		where = append(where, "sandbox = ?")
		args = append(args, f.Sandbox)
	}
	if f.Operation != "" {
		where = append(where, "operation = ?")
		args = append(args, f.Operation)
	}
	if !f.Since.IsZero() {
		where = append(where, "at >= ?")
		args = append(args, formatTime(f.Since))
	}
	query := `SELECT id, at, sandbox, operation, actor, args, outcome, error, duration_ns
		FROM events`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY at DESC, id DESC LIMIT ?"
	args = append(args, clampLimit(f.Limit))

	rows, err := s.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	defer rows.Close()

	events := []Event{}
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("list events: %w", err)
		}
		events = append(events, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}

	return events, nil
}

func scanEvent(row rowScanner) (Event, error) {
	var (
		e        Event
		at       string
		args     sql.NullString
		duration int64
	)
	err := row.Scan(&e.ID, &at, &e.Sandbox, &e.Operation, &e.Actor, &args, &e.Outcome,
		&e.Error, &duration)
	if err != nil {
		return Event{}, err
	}
	if e.At, err = parseTime(at); err != nil {
		return Event{}, err
	}
	e.Args = rawJSON(args)
	e.Duration = time.Duration(duration)

	return e, nil
}
