-- Cluster mode (docs/scaling.md): several nodes share this database.

-- Live nodes: each node upserts its row every third of a lease; a node not seen for a lease is
-- gone, and its leases are taken over as they lapse.
CREATE TABLE nodes (
    id             TEXT PRIMARY KEY,
    address        TEXT NOT NULL,
    started_at     BIGINT NOT NULL,
    last_seen_at   BIGINT NOT NULL,
    runs_in_flight BIGINT NOT NULL
);

-- What nodes cache (tokens, stores, which workflows a trigger starts, inbound keys) comes from
-- these three tables. Every change to them bumps one counter in the same transaction; a node
-- reads the counter before it trusts its cache, so a change committed on any node is seen on every
-- node by the next request (no stale caches, no time-to-live to wait out).
CREATE TABLE config_generation (
    id    BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (id),
    value BIGINT NOT NULL
);
INSERT INTO config_generation (id, value) VALUES (TRUE, 0);

CREATE FUNCTION bump_config_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE config_generation SET value = value + 1;
    RETURN NULL;
END
$$;

-- Deferred to commit: the counter's row is locked last, after every other lock of the
-- transaction, so two transactions can never wait on each other through it (a deadlock).
CREATE CONSTRAINT TRIGGER stores_change_config AFTER INSERT OR UPDATE OR DELETE ON stores
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bump_config_generation();
CREATE CONSTRAINT TRIGGER tokens_change_config AFTER INSERT OR UPDATE OR DELETE ON tokens
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bump_config_generation();
CREATE CONSTRAINT TRIGGER workflows_change_config AFTER INSERT OR UPDATE OR DELETE ON workflows
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bump_config_generation();

-- Due schedules are claimed with a lease like runs and deliveries, so one node fires each and the
-- others take the next ones instead of racing for the same.
ALTER TABLE schedules ADD COLUMN lease_owner TEXT, ADD COLUMN lease_until BIGINT;
