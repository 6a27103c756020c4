-- Agent sessions run detached inside a sandbox; their logs live on its volume.
-- This index remembers which sessions exist and what they finished with.
CREATE TABLE sessions (
    id               TEXT PRIMARY KEY,
    sandbox          TEXT NOT NULL REFERENCES sandboxes(name) ON DELETE CASCADE,
    identifier       TEXT NOT NULL,
    agent            TEXT NOT NULL,
    log_path         TEXT NOT NULL,
    status           TEXT NOT NULL,
    exit_code        INTEGER,
    result           TEXT NOT NULL DEFAULT '',
    error            TEXT NOT NULL DEFAULT '',
    agent_session_id TEXT NOT NULL DEFAULT '',
    cost_usd         REAL NOT NULL DEFAULT 0,
    input_tokens     INTEGER NOT NULL DEFAULT 0,
    output_tokens    INTEGER NOT NULL DEFAULT 0,
    started_at       TEXT NOT NULL,
    finished_at      TEXT
) STRICT;

CREATE INDEX sessions_by_sandbox ON sessions (sandbox, identifier, started_at);
