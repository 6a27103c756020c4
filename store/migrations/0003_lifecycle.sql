-- The idle policy's memory of each sandbox, and the phase transitions it made.
-- A sandbox with no lifecycle row is active and has never been idle or used.
-- Times are UTC text as in 0001; NULL means the zero time. hold_until NULL means no hold,
-- and then hold_reason and hold_actor are empty and hold_set_at is NULL. updated_at stays
-- NULL until UpdateLifecycle writes the row: TouchSandbox alone does not set it.

CREATE TABLE lifecycle (
	sandbox      TEXT PRIMARY KEY REFERENCES sandboxes (name) ON DELETE CASCADE,
	phase        TEXT NOT NULL DEFAULT 'active',
	idle_since   TEXT,
	warned_at    TEXT,
	paused_at    TEXT,
	last_used_at TEXT,
	hold_until   TEXT,
	hold_reason  TEXT NOT NULL DEFAULT '',
	hold_actor   TEXT NOT NULL DEFAULT '',
	hold_set_at  TEXT,
	policy       TEXT,
	updated_at   TEXT
) STRICT;

-- reasons is a JSON array of strings, '[]' when there are none.
CREATE TABLE lifecycle_transitions (
	id         INTEGER PRIMARY KEY,
	sandbox    TEXT NOT NULL REFERENCES sandboxes (name) ON DELETE CASCADE,
	from_phase TEXT NOT NULL,
	to_phase   TEXT NOT NULL,
	actor      TEXT NOT NULL,
	reasons    TEXT NOT NULL DEFAULT '[]',
	at         TEXT NOT NULL
) STRICT;

CREATE INDEX lifecycle_transitions_by_sandbox ON lifecycle_transitions (sandbox, at);
