// Package store keeps the durable state that Fly cannot tell us: each sandbox's record and
// the spec it was created from, the snapshots taken of it, its status history, and an audit
// trail of every operation. Fly is the truth for what exists; the store is the truth for
// what was asked, so a reconciler can compare the two and repair drift.
//
// The store never holds secret values. A sandbox spec carries env var names only (their
// values are Fly app secrets), repository and API tokens are never written, and audit
// arguments arrive already redacted by the caller. Audit events are kept when their sandbox
// is deleted; snapshots and status history are deleted with it.
//
// [SQLite] is the embedded implementation: one file, WAL mode, safe for many goroutines and
// for several processes sharing the file. Migrations are numbered .sql files embedded under
// migrations/ and applied in order at open. A PostgreSQL implementation would satisfy the
// same [Store] interface with its own migrations, store times as timestamptz (microsecond
// precision is enough: the shared contract tests only require that), sort names with
// COLLATE "C" to match SQLite's byte order, and take a row lock (SELECT ... FOR UPDATE) in
// UpdateSandbox; the contract tests in this package are written to run against it unchanged.
//
// Known limitations: audit events are never pruned, and UpdateSandbox and RecordStatus are
// separate transactions, so a crash between them can leave a status change unrecorded.
package store
