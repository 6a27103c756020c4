package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"modernc.org/sqlite" // registers the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"
)

// busyTimeout is how long a connection waits for another connection or process to
// release its lock before it fails with SQLITE_BUSY. Transactions are short, so a wait
// this long means something is stuck.
const busyTimeout = 5 * time.Second

// timeLayout stores times as fixed-width UTC text with nanoseconds, so they read well in
// the sqlite3 shell and sort correctly as strings.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

// SQLite is a Store in one SQLite file. Writes go through a single connection, so
// writers in this process queue in Go rather than spin on the file lock; reads use a
// pool of read-only connections that WAL lets run beside the writer. Other processes
// sharing the file are serialized by SQLite's locks and the busy timeout.
type SQLite struct {
	write *sql.DB
	read  *sql.DB
	now   func() time.Time
}

var _ Store = (*SQLite)(nil)

// OpenSQLite opens the database at path, creating the file (mode 0600) and its parent
// directory (mode 0700) if they are missing, and applies any pending migrations. It
// returns an error wrapping ErrSchemaTooNew if a newer build has migrated the file.
func OpenSQLite(ctx context.Context, path string) (*SQLite, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if err := createFile(abs); err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}

	s := &SQLite{now: time.Now}
	s.write, err = openPool(ctx, abs, 1, "_txlock=immediate", "_pragma=journal_mode(WAL)")
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if err := migrate(ctx, s.write, migrationFiles); err != nil {
		s.write.Close()

		return nil, fmt.Errorf("open store %s: %w", path, err)
	}

	s.read, err = openPool(ctx, abs, max(4, runtime.NumCPU()), "_pragma=query_only(1)")
	if err != nil {
		s.write.Close()

		return nil, fmt.Errorf("open store %s: %w", path, err)
	}

	return s, nil
}

// createFile makes sure the database file exists with owner-only permissions before
// SQLite opens it; SQLite would create it world-readable and gives its -wal and -shm
// files the same mode as the database file.
func createFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("create database file: %w", err)
	}

	return f.Close()
}

// openPool opens a connection pool on the file at path with the pragmas every connection
// needs plus extra DSN parameters, and checks that a connection can be made.
func openPool(ctx context.Context, path string, conns int, extra ...string) (*sql.DB, error) {
	params := []string{
		fmt.Sprintf("_pragma=busy_timeout(%d)", busyTimeout.Milliseconds()),
		"_pragma=foreign_keys(1)",
	}
	params = append(params, extra...)

	// A file: URI escapes characters such as '?' and '#' that a plain path cannot carry.
	u := url.URL{Scheme: "file", Path: path}
	dsn := u.String() + "?" + strings.Join(params, "&")

	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	if err := ping(ctx, db); err != nil {
		db.Close()

		return nil, fmt.Errorf("connect to database: %w", err)
	}

	return db, nil
}

// ping connects to db. Switching a new file to WAL takes an exclusive lock that
// SQLite does not wait for, so when several processes open one new file at once
// some see SQLITE_BUSY: those retry until the busy timeout.
func ping(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(busyTimeout)
	for {
		err := db.PingContext(ctx)
		var se *sqlite.Error
		if err == nil || !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY ||
			time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Close closes both connection pools.
func (s *SQLite) Close() error {
	return errors.Join(s.read.Close(), s.write.Close())
}

// stamp returns t in UTC without its monotonic reading, or now if t is zero.
func (s *SQLite) stamp(t time.Time) time.Time {
	if t.IsZero() {
		t = s.now()
	}

	return t.UTC()
}

func formatTime(t time.Time) string {
	return t.UTC().Format(timeLayout)
}

func parseTime(v string) (time.Time, error) {
	t, err := time.Parse(timeLayout, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("parse stored time %q: %w", v, err)
	}

	return t, nil
}

// nullTime stores a zero time as NULL.
func nullTime(t time.Time) sql.NullString {
	if t.IsZero() {
		return sql.NullString{}
	}

	return sql.NullString{String: formatTime(t), Valid: true}
}

// parseNullTime reads a nullable time column, the zero time for NULL.
func parseNullTime(v sql.NullString) (time.Time, error) {
	if !v.Valid {
		return time.Time{}, nil
	}

	return parseTime(v.String)
}

// rawJSON turns a nullable JSON column into a RawMessage, nil for NULL.
func rawJSON(v sql.NullString) json.RawMessage {
	if !v.Valid {
		return nil
	}

	return json.RawMessage(v.String)
}

// nullJSON stores an empty document as NULL.
func nullJSON(doc json.RawMessage) sql.NullString {
	return sql.NullString{String: string(doc), Valid: len(doc) > 0}
}

// rollback ends a transaction that was not committed; after Commit it does nothing.
func rollback(tx *sql.Tx) {
	_ = tx.Rollback()
}
