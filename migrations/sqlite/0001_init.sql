-- Switchboard schema, SQLite. Times are integer milliseconds since the Unix epoch.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE stores (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    inbound_secret TEXT,            -- encrypted; for signed ingest at /hooks/{storeId}/…
    created_at     INTEGER NOT NULL
);

CREATE TABLE tokens (
    id         TEXT PRIMARY KEY,
    store_id   TEXT REFERENCES stores(id),   -- NULL: an admin token
    name       TEXT,
    hash       TEXT NOT NULL UNIQUE,         -- SHA-256 hex; the token is never stored
    created_at INTEGER NOT NULL
);

CREATE TABLE workflows (
    id           TEXT PRIMARY KEY,
    store_id     TEXT NOT NULL REFERENCES stores(id),
    name         TEXT NOT NULL,
    description  TEXT,
    format       TEXT NOT NULL,
    version      INTEGER NOT NULL,
    active       INTEGER NOT NULL,
    trigger_kind TEXT NOT NULL,
    trigger_key  TEXT,
    definition   TEXT NOT NULL,            -- as posted, key order kept
    warnings     TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    deleted_at   INTEGER
);
CREATE UNIQUE INDEX workflows_name ON workflows (store_id, name) WHERE deleted_at IS NULL;
CREATE INDEX workflows_store ON workflows (store_id, id) WHERE deleted_at IS NULL;
CREATE INDEX workflows_trigger ON workflows (store_id, trigger_kind, trigger_key) WHERE deleted_at IS NULL;

CREATE TABLE workflow_versions (
    workflow_id TEXT NOT NULL REFERENCES workflows(id),
    version     INTEGER NOT NULL,
    definition  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (workflow_id, version)
);

CREATE TABLE events (
    id               TEXT PRIMARY KEY,
    store_id         TEXT NOT NULL REFERENCES stores(id),
    event_type       TEXT NOT NULL,
    payload          TEXT NOT NULL,
    idempotency_key  TEXT,
    request_hash     TEXT,                 -- same key with another body → conflict
    response         TEXT,                 -- the first answer, repeated for retries
    created_at       INTEGER NOT NULL
);
CREATE UNIQUE INDEX events_idempotency ON events (store_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX events_created ON events (created_at);

CREATE TABLE runs (
    id               TEXT PRIMARY KEY,
    store_id         TEXT NOT NULL REFERENCES stores(id),
    workflow_id      TEXT NOT NULL REFERENCES workflows(id),
    workflow_version INTEGER NOT NULL,
    event_id         TEXT REFERENCES events(id),
    status           TEXT NOT NULL,        -- queued|running|waiting|completed|failed|cancelled
    trigger          TEXT NOT NULL,
    contact          TEXT,                 -- conversation key (phone digits)
    next_node        INTEGER,              -- where the run resumes
    visits           INTEGER NOT NULL DEFAULT 0,
    wake_at          INTEGER,              -- due time of a waiting or queued run
    lease_owner      TEXT,                 -- node executing it
    lease_until      INTEGER,              -- others may claim it after this
    error            TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    finished_at      INTEGER
);
CREATE INDEX runs_due ON runs (wake_at) WHERE status IN ('queued', 'running', 'waiting');
CREATE INDEX runs_store ON runs (store_id, id);
CREATE INDEX runs_workflow ON runs (workflow_id, id);

CREATE TABLE step_records (
    run_id      TEXT NOT NULL REFERENCES runs(id),
    seq         INTEGER NOT NULL,          -- visit order within the run
    step_id     TEXT NOT NULL,
    node        INTEGER NOT NULL,
    visit       INTEGER NOT NULL,
    status      TEXT NOT NULL,
    attempts    INTEGER NOT NULL,
    input       TEXT,
    output      TEXT,
    error       TEXT,
    http        TEXT,
    logs        TEXT,                      -- what a script logged
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE conversations (
    store_id   TEXT NOT NULL REFERENCES stores(id),
    phone      TEXT NOT NULL,              -- digits only
    state      TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (store_id, phone)
);
