package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

const selectSandbox = `SELECT name, app, region, image, machine_id, volume_id, status,
	last_error, spec, created_at, updated_at FROM sandboxes`

// rowScanner is what *sql.Row and *sql.Rows have in common.
type rowScanner interface {
	Scan(dest ...any) error
}

// CreateSandbox implements [Store.CreateSandbox].
func (s *SQLite) CreateSandbox(ctx context.Context, sb Sandbox) error {
	if err := validateSandbox(sb); err != nil {
		return fmt.Errorf("create sandbox %s: %w", sb.Name, err)
	}
	sb.CreatedAt = s.stamp(sb.CreatedAt)
	if sb.UpdatedAt.IsZero() {
		sb.UpdatedAt = sb.CreatedAt
	}

	res, err := s.write.ExecContext(ctx, `INSERT INTO sandboxes (name, app, region, image,
		machine_id, volume_id, status, last_error, spec, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING`,
		sb.Name, sb.App, sb.Region, sb.Image, sb.MachineID, sb.VolumeID, sb.Status,
		sb.LastError, nullJSON(sb.Spec), formatTime(sb.CreatedAt), formatTime(sb.UpdatedAt),
	)
	if err != nil {
		return fmt.Errorf("create sandbox %s: %w", sb.Name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("create sandbox %s: %w", sb.Name, err)
	}
	if n == 0 {
		return fmt.Errorf("create sandbox %s: %w", sb.Name, ErrExists)
	}

	return nil
}

// GetSandbox implements [Store.GetSandbox].
func (s *SQLite) GetSandbox(ctx context.Context, name string) (Sandbox, error) {
	row := s.read.QueryRowContext(ctx, selectSandbox+` WHERE name = ?`, name)
	sb, err := scanSandbox(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Sandbox{}, fmt.Errorf("get sandbox %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return Sandbox{}, fmt.Errorf("get sandbox %s: %w", name, err)
	}

	return sb, nil
}

// ListSandboxes implements [Store.ListSandboxes].
func (s *SQLite) ListSandboxes(ctx context.Context) ([]Sandbox, error) {
	rows, err := s.read.QueryContext(ctx, selectSandbox+` ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list sandboxes: %w", err)
	}
	defer rows.Close()

	sbs := []Sandbox{}
	for rows.Next() {
		sb, err := scanSandbox(rows)
		if err != nil {
			return nil, fmt.Errorf("list sandboxes: %w", err)
		}
		sbs = append(sbs, sb)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list sandboxes: %w", err)
	}

	return sbs, nil
}

// UpdateSandbox implements [Store.UpdateSandbox]. The transaction holds the database's
// write lock from its first read, so concurrent updates never lose each other's changes.
func (s *SQLite) UpdateSandbox(
	ctx context.Context,
	name string,
	fn func(*Sandbox) error,
) (Sandbox, error) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return Sandbox{}, fmt.Errorf("update sandbox %s: %w", name, err)
	}
	defer rollback(tx)

	old, err := scanSandbox(tx.QueryRowContext(ctx, selectSandbox+` WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return Sandbox{}, fmt.Errorf("update sandbox %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return Sandbox{}, fmt.Errorf("update sandbox %s: %w", name, err)
	}

	sb := old
	if err := fn(&sb); err != nil {
		return Sandbox{}, fmt.Errorf("update sandbox %s: %w", name, err)
	}
	if err := validateUpdate(old, sb); err != nil {
		return Sandbox{}, fmt.Errorf("update sandbox %s: %w", name, err)
	}
	sb.CreatedAt = old.CreatedAt
	sb.UpdatedAt = s.stamp(time.Time{})

	_, err = tx.ExecContext(ctx, `UPDATE sandboxes SET app = ?, region = ?, image = ?,
		machine_id = ?, volume_id = ?, status = ?, last_error = ?, spec = ?, updated_at = ?
		WHERE name = ?`,
		sb.App, sb.Region, sb.Image, sb.MachineID, sb.VolumeID, sb.Status, sb.LastError,
		nullJSON(sb.Spec), formatTime(sb.UpdatedAt), name,
	)
	if err != nil {
		return Sandbox{}, fmt.Errorf("update sandbox %s: %w", name, err)
	}
	if err := tx.Commit(); err != nil {
		return Sandbox{}, fmt.Errorf("update sandbox %s: %w", name, err)
	}

	return sb, nil
}

// validateUpdate checks what fn made of a sandbox: its identity must not change.
func validateUpdate(old, sb Sandbox) error {
	if sb.Name != old.Name {
		return fmt.Errorf("%w: name cannot change (to %q)", ErrInvalid, sb.Name)
	}
	if !sb.CreatedAt.Equal(old.CreatedAt) {
		return fmt.Errorf("%w: created time cannot change", ErrInvalid)
	}

	return validateSandbox(sb)
}

// DeleteSandbox implements [Store.DeleteSandbox]. Foreign keys cascade the delete to
// snapshots, status changes, sessions, the lifecycle record and transitions; events have
// no foreign key and stay.
func (s *SQLite) DeleteSandbox(ctx context.Context, name string) error {
	res, err := s.write.ExecContext(ctx, `DELETE FROM sandboxes WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("delete sandbox %s: %w", name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("delete sandbox %s: %w", name, err)
	}
	if n == 0 {
		return fmt.Errorf("delete sandbox %s: %w", name, ErrNotFound)
	}

	return nil
}

func scanSandbox(row rowScanner) (Sandbox, error) {
	var (
		sb               Sandbox
		spec             sql.NullString
		created, updated string
	)
	err := row.Scan(&sb.Name, &sb.App, &sb.Region, &sb.Image, &sb.MachineID, &sb.VolumeID,
		&sb.Status, &sb.LastError, &spec, &created, &updated)
	if err != nil {
		return Sandbox{}, err
	}
	sb.Spec = rawJSON(spec)
	if sb.CreatedAt, err = parseTime(created); err != nil {
		return Sandbox{}, err
	}
	if sb.UpdatedAt, err = parseTime(updated); err != nil {
		return Sandbox{}, err
	}

	return sb, nil
}
