-- Messages sent and received on the channels (WhatsApp, email, voice calls), with their latest
-- delivery status. A provider's id is unique per store and channel: Meta's repeated deliveries and
-- status reports find the record they belong to.
CREATE TABLE messages (
    id          TEXT PRIMARY KEY,
    store_id    TEXT NOT NULL REFERENCES stores(id),
    channel     TEXT NOT NULL,
    direction   TEXT NOT NULL,
    contact     TEXT,
    provider_id TEXT,
    status      TEXT NOT NULL,
    status_rank BIGINT NOT NULL,
    content     TEXT NOT NULL,
    error       TEXT,
    run_id      TEXT,
    step_id     TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE UNIQUE INDEX messages_provider ON messages (store_id, channel, provider_id) WHERE provider_id IS NOT NULL;
CREATE INDEX messages_contact ON messages (store_id, contact, id);
