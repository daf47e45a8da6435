-- Connected systems (GDPR Art. 19): webhook endpoints, the events sent to
-- them and one delivery per endpoint and event, with a log of every attempt.
-- Nothing here holds personal values: events carry IDs and field names.

-- secret is sealed under the master key (keyring.SealSecret, label
-- webhook:<id>) because it must be opened to sign. next_seq numbers the
-- endpoint's deliveries in commit order; lane_owner/lane_until is the lease
-- of the one worker that may send to the endpoint at a time, so deliveries
-- leave in order.
CREATE TABLE webhook_endpoints (
    workspace_id     UUID NOT NULL REFERENCES workspaces(id),
    id               UUID PRIMARY KEY,
    name             TEXT NOT NULL,
    url              TEXT NOT NULL,
    secret           BYTEA NOT NULL,
    event_types      TEXT NOT NULL,
    data_categories  TEXT NOT NULL,
    disabled_at      TIMESTAMPTZ,
    next_seq         BIGINT NOT NULL DEFAULT 0,
    lane_owner       TEXT,
    lane_until       TIMESTAMPTZ,
    secret_rotated_at TIMESTAMPTZ NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX webhook_endpoints_ws ON webhook_endpoints (workspace_id, created_at);

-- payload is the exact body sent, so every attempt and every redelivery
-- signs the same bytes.
CREATE TABLE webhook_events (
    workspace_id  UUID NOT NULL REFERENCES workspaces(id),
    id            UUID PRIMARY KEY,
    type          TEXT NOT NULL,
    contact_id    UUID,
    occurred_at   TIMESTAMPTZ NOT NULL,
    payload       TEXT NOT NULL
);
CREATE INDEX webhook_events_contact ON webhook_events (workspace_id, contact_id);

-- attempts counts the tries since the delivery was last queued (a
-- redelivery starts again at 0); dead is the dead-letter state.
CREATE TABLE webhook_deliveries (
    workspace_id     UUID NOT NULL REFERENCES workspaces(id),
    id               UUID PRIMARY KEY,
    endpoint_id      UUID NOT NULL REFERENCES webhook_endpoints(id),
    event_id         UUID NOT NULL REFERENCES webhook_events(id),
    seq              BIGINT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('pending','delivered','dead')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMPTZ NOT NULL,
    last_status      INTEGER,
    last_error       TEXT,
    delivered_at     TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    UNIQUE (endpoint_id, seq)
);
CREATE INDEX webhook_deliveries_lane ON webhook_deliveries (endpoint_id, state, seq);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (workspace_id, event_id);

CREATE TABLE webhook_attempts (
    workspace_id  UUID NOT NULL REFERENCES workspaces(id),
    id            UUID PRIMARY KEY,
    delivery_id   UUID NOT NULL REFERENCES webhook_deliveries(id),
    started_at    TIMESTAMPTZ NOT NULL,
    duration_ms   INTEGER NOT NULL,
    status_code   INTEGER,
    error         TEXT
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, started_at);
