-- Outgoing events (docs/protocols.md §4). A state change that subscribers may hear about writes,
-- in its own transaction, one `outgoing_events` row and one `deliveries` row per matching active
-- subscription; nothing when no subscription matches (an emitted event is always kept, for its
-- idempotent id). The delivery worker claims due deliveries with a lease, sends them, and logs
-- every attempt.
CREATE TABLE subscriptions (
    id               TEXT PRIMARY KEY,
    store_id         TEXT NOT NULL REFERENCES stores(id),
    url              TEXT NOT NULL,
    description      TEXT,
    events           TEXT NOT NULL,        -- the filter as given: JSON array of names, `group.*` or `*`
    ordered          INTEGER NOT NULL,
    active           INTEGER NOT NULL,
    secret           TEXT NOT NULL,        -- sealed whsec_ secret
    previous_secret  TEXT,                 -- sealed; still signs until previous_until
    previous_until   INTEGER,
    failing_since    INTEGER,                -- first failed attempt since the last success
    disabled_at      INTEGER,
    disabled_reason  TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    deleted_at       INTEGER
);
CREATE INDEX subscriptions_store ON subscriptions (store_id, id) WHERE deleted_at IS NULL;

-- One row per name of a live subscription's filter: the fan-out lookup.
CREATE TABLE subscription_events (
    subscription_id TEXT NOT NULL REFERENCES subscriptions(id),
    store_id        TEXT NOT NULL,
    event           TEXT NOT NULL,
    PRIMARY KEY (subscription_id, event)
);
CREATE INDEX subscription_events_match ON subscription_events (store_id, event);

CREATE TABLE outgoing_events (
    id          TEXT PRIMARY KEY,          -- UUIDv7: the envelope's id and `webhook-id`
    store_id    TEXT NOT NULL REFERENCES stores(id),
    event       TEXT NOT NULL,
    data        TEXT NOT NULL,
    contact     TEXT,                      -- ordering key (phone digits)
    origin_key  TEXT UNIQUE,               -- emit_event: {runId}:{stepId}:{visit}
    created_at  INTEGER NOT NULL
);

CREATE TABLE deliveries (
    id              TEXT PRIMARY KEY,
    store_id        TEXT NOT NULL REFERENCES stores(id),
    subscription_id TEXT NOT NULL REFERENCES subscriptions(id),
    event_id        TEXT NOT NULL REFERENCES outgoing_events(id),
    event           TEXT NOT NULL,
    contact         TEXT,                  -- set for ordered subscriptions only
    status          TEXT NOT NULL,         -- pending | succeeded | failed | cancelled
    attempts        INTEGER NOT NULL,
    manual          INTEGER NOT NULL,       -- a manual retry or recovery: one attempt, no schedule
    next_attempt_at INTEGER,
    lease_owner     TEXT,
    lease_until     INTEGER,
    last_status     INTEGER,                 -- HTTP status of the latest attempt
    last_error      TEXT,
    delivered_at    INTEGER,                 -- first success
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_order ON deliveries (subscription_id, contact, event_id) WHERE status = 'pending';
CREATE INDEX deliveries_subscription ON deliveries (subscription_id, id);
CREATE INDEX deliveries_recover ON deliveries (subscription_id, created_at) WHERE status = 'failed';

CREATE TABLE delivery_attempts (
    delivery_id TEXT NOT NULL REFERENCES deliveries(id),
    attempt     INTEGER NOT NULL,
    started_at  INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    status      INTEGER,                     -- HTTP status; NULL when none came back
    response    TEXT,                      -- the start of the response body
    error       TEXT,                      -- why it failed (timeout, connection, 3xx…)
    manual      INTEGER NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
);
