-- Cluster mode (docs/scaling.md). SQLite serves one node; it lists itself like a PostgreSQL node does.
CREATE TABLE nodes (
    id             TEXT PRIMARY KEY,
    address        TEXT NOT NULL,
    started_at     INTEGER NOT NULL,
    last_seen_at   INTEGER NOT NULL,
    runs_in_flight INTEGER NOT NULL
);

-- Due schedules are claimed with a lease like runs and deliveries (see the PostgreSQL migration).
ALTER TABLE schedules ADD COLUMN lease_owner TEXT;
ALTER TABLE schedules ADD COLUMN lease_until INTEGER;
