-- Named settings resources of a store: connectors, saved webhooks (and later subscriptions,
-- email templates). `body` is the resource as the API shows it, with secrets sealed.
CREATE TABLE resources (
    id         TEXT PRIMARY KEY,
    store_id   TEXT NOT NULL REFERENCES stores(id),
    kind       TEXT NOT NULL,
    name       TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT
);
CREATE UNIQUE INDEX resources_name ON resources (store_id, kind, name) WHERE deleted_at IS NULL;
CREATE INDEX resources_list ON resources (store_id, kind, id);
