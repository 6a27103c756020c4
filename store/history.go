package store

import (
	"context"
	"fmt"
)

// RecordStatus implements [Store.RecordStatus].
func (s *SQLite) RecordStatus(ctx context.Context, c StatusChange) error {
	if err := validateStatusChange(c); err != nil {
		return fmt.Errorf("record status of %s: %w", c.Sandbox, err)
	}

	res, err := s.write.ExecContext(ctx, `INSERT INTO status_changes
		(sandbox, from_status, to_status, actor, reason, at)
		SELECT ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM sandboxes WHERE name = ?)`,
		c.Sandbox, c.From, c.To, c.Actor, c.Reason, formatTime(s.stamp(c.At)), c.Sandbox,
	)
	if err := requireRow(res, err, "sandbox "+c.Sandbox); err != nil {
		return fmt.Errorf("record status of %s: %w", c.Sandbox, err)
	}

	return nil
}

// StatusHistory implements [Store.StatusHistory].
func (s *SQLite) StatusHistory(
	ctx context.Context,
	sandbox string,
	limit int,
) ([]StatusChange, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT sandbox, from_status, to_status, actor,
		reason, at FROM status_changes WHERE sandbox = ? ORDER BY at DESC, id DESC LIMIT ?`,
		sandbox, clampLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("read status history of %s: %w", sandbox, err)
	}
	defer rows.Close()

	changes := []StatusChange{}
	for rows.Next() {
		var (
			c  StatusChange
			at string
		)
		err := rows.Scan(&c.Sandbox, &c.From, &c.To, &c.Actor, &c.Reason, &at)
		if err == nil {
			c.At, err = parseTime(at)
		}
		if err != nil {
			return nil, fmt.Errorf("read status history of %s: %w", sandbox, err)
		}
		changes = append(changes, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read status history of %s: %w", sandbox, err)
	}

	return changes, nil
}
