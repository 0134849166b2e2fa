-- A store's own limits, set by the admin (PATCH /api/stores/{id}); NULL: the server's setting.
ALTER TABLE stores ADD COLUMN limit_event_rate BIGINT;
ALTER TABLE stores ADD COLUMN limit_api_rate BIGINT;
ALTER TABLE stores ADD COLUMN limit_max_workflows BIGINT;
ALTER TABLE stores ADD COLUMN limit_max_runs_in_flight BIGINT;
ALTER TABLE stores ADD COLUMN limit_js_ms_per_minute BIGINT;
