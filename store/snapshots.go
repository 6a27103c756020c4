package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// PutSnapshot implements [Store.PutSnapshot].
func (s *SQLite) PutSnapshot(ctx context.Context, snap Snapshot) error {
	if err := validateSnapshot(snap); err != nil {
		return fmt.Errorf("put snapshot %s: %w", snap.ID, err)
	}

	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("put snapshot %s: %w", snap.ID, err)
	}
	defer rollback(tx)

	var owner string
	err = tx.QueryRowContext(ctx, `SELECT sandbox FROM snapshots WHERE id = ?`, snap.ID).
		Scan(&owner)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		err = s.insertSnapshot(ctx, tx, snap)
	case err == nil && owner != snap.Sandbox:
		err = fmt.Errorf("%w: recorded for sandbox %s", ErrExists, owner)
	case err == nil:
		err = updateSnapshot(ctx, tx, snap)
	}
	if err != nil {
		return fmt.Errorf("put snapshot %s: %w", snap.ID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("put snapshot %s: %w", snap.ID, err)
	}

	return nil
}

func (s *SQLite) insertSnapshot(ctx context.Context, tx *sql.Tx, snap Snapshot) error {
	res, err := tx.ExecContext(ctx, `INSERT INTO snapshots
		(id, sandbox, volume_id, status, reason, size_bytes, created_at)
		SELECT ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM sandboxes WHERE name = ?)`,
		snap.ID, snap.Sandbox, snap.VolumeID, snap.Status, snap.Reason, snap.SizeBytes,
		formatTime(s.stamp(snap.CreatedAt)), snap.Sandbox,
	)

	return requireRow(res, err, "sandbox "+snap.Sandbox)
}

func updateSnapshot(ctx context.Context, tx *sql.Tx, snap Snapshot) error {
	var created sql.NullString
	if !snap.CreatedAt.IsZero() {
		created = sql.NullString{String: formatTime(snap.CreatedAt), Valid: true}
	}
	_, err := tx.ExecContext(ctx, `UPDATE snapshots SET volume_id = ?, status = ?,
		reason = ?, size_bytes = ?, created_at = COALESCE(?, created_at) WHERE id = ?`,
		snap.VolumeID, snap.Status, snap.Reason, snap.SizeBytes, created, snap.ID,
	)

	return err
}

// ListSnapshots implements [Store.ListSnapshots].
func (s *SQLite) ListSnapshots(ctx context.Context, sandbox string) ([]Snapshot, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT id, sandbox, volume_id, status, reason,
		size_bytes, created_at FROM snapshots WHERE sandbox = ?
		ORDER BY created_at DESC, rowid DESC`, sandbox)
	if err != nil {
		return nil, fmt.Errorf("list snapshots of %s: %w", sandbox, err)
	}
	defer rows.Close()

	snaps := []Snapshot{}
	for rows.Next() {
		var (
			snap    Snapshot
			created string
		)
		err := rows.Scan(&snap.ID, &snap.Sandbox, &snap.VolumeID, &snap.Status, &snap.Reason,
			&snap.SizeBytes, &created)
		if err == nil {
			snap.CreatedAt, err = parseTime(created)
		}
		if err != nil {
			return nil, fmt.Errorf("list snapshots of %s: %w", sandbox, err)
		}
		snaps = append(snaps, snap)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list snapshots of %s: %w", sandbox, err)
	}

	return snaps, nil
}

// requireRow turns the result of an INSERT ... WHERE EXISTS into ErrNotFound naming what
// was missing when no row was written.
func requireRow(res sql.Result, err error, what string) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}

	return nil
}
