// Package store keeps the durable state that Fly cannot tell us: each sandbox's record and
// the spec it was created from, the snapshots taken of it, its status history, its
// lifecycle state under the idle policy (phase, idle and last-use times, keep-alive hold,
// policy override) with the phase transitions made, and an audit trail of every operation.
// Fly is the truth for what exists; the store is the truth for what was asked, so a
// reconciler can compare the two and repair drift. The store records lifecycle state; it
// does not decide when a sandbox is idle or act on a hold: the idle policy does.
//
// The store never holds secret values. A sandbox spec carries env var names only (their
// values are Fly app secrets), repository and API tokens are never written, and audit
// arguments arrive already redacted by the caller. Audit events are kept when their sandbox
// is deleted; snapshots, status history, sessions, lifecycle state and transitions are
// deleted with it.
//
// [SQLite] is the embedded implementation: one file, WAL mode, safe for many goroutines and
// for several processes sharing the file. Migrations are numbered .sql files embedded under
// migrations/ and applied in order at open. A PostgreSQL implementation would satisfy the
// same [Store] interface with its own migrations, store times as timestamptz (microsecond
// precision is enough: the shared contract tests only require that), sort names with
// COLLATE "C" to match SQLite's byte order, and take a row lock (SELECT ... FOR UPDATE) in
// UpdateSandbox, and on the sandboxes row in UpdateLifecycle, since the lifecycle row may
// not exist yet, and order snapshots of the same time by an identity column, as SQLite
// does by rowid; the contract tests in this package are written to run against it unchanged.
//
// Known limitations: audit events and lifecycle transitions are never pruned, and
// UpdateSandbox and RecordStatus, like UpdateLifecycle and RecordTransition, are separate
// transactions, so a crash between them can leave a change unrecorded.
package store
