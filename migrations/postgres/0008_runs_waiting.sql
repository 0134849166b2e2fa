-- Waiting runs by store, so that when due runs pile up each store's are claimed in turn
-- (docs/architecture.md, "Due runs"): the stores with waiting runs are found by skipping from one
-- store to the next, and each store's due runs in its own range.
CREATE INDEX runs_waiting ON runs (store_id, wake_at) WHERE status = 'waiting';
