-- Sandboxes, their snapshots and status history, and the audit trail.
-- Times are UTC text, 2006-01-02T15:04:05.000000000Z, which sorts as it reads.
-- JSON documents (spec, args) are TEXT; NULL means none was given.

CREATE TABLE sandboxes (
	name       TEXT PRIMARY KEY,
	app        TEXT NOT NULL DEFAULT '',
	region     TEXT NOT NULL DEFAULT '',
	image      TEXT NOT NULL DEFAULT '',
	machine_id TEXT NOT NULL DEFAULT '',
	volume_id  TEXT NOT NULL DEFAULT '',
	status     TEXT NOT NULL,
	last_error TEXT NOT NULL DEFAULT '',
	spec       TEXT,
	created_at TEXT NOT NULL,
	updated_at TEXT NOT NULL
) STRICT;

CREATE TABLE snapshots (
	id         TEXT PRIMARY KEY,
	sandbox    TEXT NOT NULL REFERENCES sandboxes (name) ON DELETE CASCADE,
	volume_id  TEXT NOT NULL DEFAULT '',
	status     TEXT NOT NULL DEFAULT '',
	reason     TEXT NOT NULL,
	size_bytes INTEGER NOT NULL DEFAULT 0,
	created_at TEXT NOT NULL
) STRICT;

CREATE INDEX snapshots_by_sandbox ON snapshots (sandbox, created_at);

CREATE TABLE status_changes (
	id          INTEGER PRIMARY KEY,
	sandbox     TEXT NOT NULL REFERENCES sandboxes (name) ON DELETE CASCADE,
	from_status TEXT NOT NULL DEFAULT '',
	to_status   TEXT NOT NULL,
	actor       TEXT NOT NULL,
	reason      TEXT NOT NULL DEFAULT '',
	at          TEXT NOT NULL
) STRICT;

CREATE INDEX status_changes_by_sandbox ON status_changes (sandbox, at);

-- Events have no foreign key: the audit trail outlives the sandbox.
-- AUTOINCREMENT keeps IDs from being reused if old events are ever pruned.
CREATE TABLE events (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	at          TEXT NOT NULL,
	sandbox     TEXT NOT NULL DEFAULT '',
	operation   TEXT NOT NULL,
	actor       TEXT NOT NULL,
	args        TEXT,
	outcome     TEXT NOT NULL,
	error       TEXT NOT NULL DEFAULT '',
	duration_ns INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX events_by_at ON events (at);
CREATE INDEX events_by_sandbox ON events (sandbox, at);
CREATE INDEX events_by_operation ON events (operation, at);
