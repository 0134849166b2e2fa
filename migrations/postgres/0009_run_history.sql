-- Run history to act on (docs/api.md, "Runs"): what a run is found by (its contact's email, how it
-- started, why it failed and where), what was done to it (retries, replays), and which version of
-- its workflow each step record ran on. A rerun from a step supersedes the records from that step
-- on: they stay in the history, no longer in the run's context.
ALTER TABLE runs ADD COLUMN email TEXT;
ALTER TABLE runs ADD COLUMN trigger_type TEXT;
ALTER TABLE runs ADD COLUMN error_code TEXT;
ALTER TABLE runs ADD COLUMN failed_step TEXT;
ALTER TABLE runs ADD COLUMN replay_of TEXT;
ALTER TABLE runs ADD COLUMN actions TEXT;
ALTER TABLE step_records ADD COLUMN workflow_version BIGINT;
ALTER TABLE step_records ADD COLUMN superseded_at BIGINT;
CREATE INDEX runs_contact ON runs (store_id, contact, id) WHERE contact IS NOT NULL;
CREATE INDEX runs_email ON runs (store_id, email, id) WHERE email IS NOT NULL;
CREATE INDEX runs_event ON runs (event_id);
CREATE INDEX events_store ON events (store_id, id);
CREATE INDEX runs_updated ON runs (store_id, updated_at, id);
