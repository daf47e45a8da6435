-- Connected systems (GDPR Art. 19): webhook endpoints, the events sent to
-- them and one delivery per endpoint and event, with a log of every attempt.
-- Nothing here holds personal values: events carry IDs and field names.

-- secret is sealed under the master key (keyring.SealSecret, label
-- webhook:<id>) because it must be opened to sign. next_seq numbers the
-- endpoint's deliveries in commit order; lane_owner/lane_until is the lease
-- of the one worker that may send to the endpoint at a time, so deliveries
-- leave in order.
CREATE TABLE webhook_endpoints (
    workspace_id     TEXT NOT NULL REFERENCES workspaces(id),
    id               TEXT NOT NULL PRIMARY KEY,
    name             TEXT NOT NULL,
    url              TEXT NOT NULL,
    secret           BLOB NOT NULL,
    event_types      TEXT NOT NULL,
    data_categories  TEXT NOT NULL,
    disabled_at      TIMESTAMP,
    next_seq         INTEGER NOT NULL DEFAULT 0,
    lane_owner       TEXT,
    lane_until       TIMESTAMP,
    secret_rotated_at TIMESTAMP NOT NULL,
    created_at       TIMESTAMP NOT NULL,
    updated_at       TIMESTAMP NOT NULL
);
CREATE INDEX webhook_endpoints_ws ON webhook_endpoints (workspace_id, created_at);

-- payload is the exact body sent, so every attempt and every redelivery
-- signs the same bytes.
CREATE TABLE webhook_events (
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
    id            TEXT NOT NULL PRIMARY KEY,
    type          TEXT NOT NULL,
    contact_id    TEXT,
    occurred_at   TIMESTAMP NOT NULL,
    payload       TEXT NOT NULL
);
CREATE INDEX webhook_events_contact ON webhook_events (workspace_id, contact_id);

-- attempts counts the tries since the delivery was last queued (a
-- redelivery starts again at 0); dead is the dead-letter state.
CREATE TABLE webhook_deliveries (
    workspace_id     TEXT NOT NULL REFERENCES workspaces(id),
    id               TEXT NOT NULL PRIMARY KEY,
    endpoint_id      TEXT NOT NULL REFERENCES webhook_endpoints(id),
    event_id         TEXT NOT NULL REFERENCES webhook_events(id),
    seq              INTEGER NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('pending','delivered','dead')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMP NOT NULL,
    last_status      INTEGER,
    last_error       TEXT,
    delivered_at     TIMESTAMP,
    created_at       TIMESTAMP NOT NULL,
    updated_at       TIMESTAMP NOT NULL,
    UNIQUE (endpoint_id, seq)
);
CREATE INDEX webhook_deliveries_lane ON webhook_deliveries (endpoint_id, state, seq);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (workspace_id, event_id);

CREATE TABLE webhook_attempts (
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
    id            TEXT NOT NULL PRIMARY KEY,
    delivery_id   TEXT NOT NULL REFERENCES webhook_deliveries(id),
    started_at    TIMESTAMP NOT NULL,
    duration_ms   INTEGER NOT NULL,
    status_code   INTEGER,
    error         TEXT
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, started_at);
