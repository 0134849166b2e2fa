-- Scheduled work: calls of callable workflows (one row per call, made by a schedule_workflow
-- step) and the next tick of each active schedule workflow (one row per workflow, moved on at
-- every tick). A row fires in the transaction that creates its run, and only while it is still
-- pending at the due time that node saw, so it fires once however many nodes look at it.
CREATE TABLE schedules (
    id             TEXT PRIMARY KEY,
    store_id       TEXT NOT NULL REFERENCES stores(id),
    workflow_id    TEXT NOT NULL REFERENCES workflows(id),
    kind           TEXT NOT NULL,          -- call | cron
    status         TEXT NOT NULL,          -- pending | fired | cancelled | failed
    due_at         BIGINT NOT NULL,
    inputs         TEXT,                   -- call: the callee's trigger data
    origin_key     TEXT UNIQUE,            -- call: {runId}:{stepId}:{visit} of the scheduling step
    origin_run_id  TEXT,
    origin_step_id TEXT,
    run_id         TEXT,                   -- the run it started (cron: the latest)
    fired_at       BIGINT,
    error          TEXT,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE INDEX schedules_due ON schedules (due_at) WHERE status = 'pending';
CREATE UNIQUE INDEX schedules_cron ON schedules (workflow_id) WHERE kind = 'cron' AND status = 'pending';
CREATE INDEX schedules_store ON schedules (store_id, id);
