-- Tracking beyond identified events (docs/tracking.md).
--
-- The workspace's choice about pseudonymous analytics: off unless enabled,
-- and how many days one pseudonym lives before the key behind it is
-- replaced.
CREATE TABLE track_settings (
    workspace_id   UUID PRIMARY KEY REFERENCES workspaces(id),
    pseudonymous   BOOLEAN NOT NULL,
    rotation_days  INTEGER NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL
);

-- The key of the current pseudonym period, random and sealed under the
-- master key. One row per workspace: a new period replaces the row, so the
-- key of a closed period exists nowhere and its pseudonyms cannot be
-- recomputed from a visitor signal.
CREATE TABLE track_period_keys (
    workspace_id   UUID PRIMARY KEY REFERENCES workspaces(id),
    rotation_days  INTEGER NOT NULL,
    period         BIGINT NOT NULL,
    sealed         BYTEA NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL
);

-- Pseudonymous events: a keyed pseudonym of the visitor signal (never the
-- IP address or user agent themselves), no contact.
CREATE TABLE track_pseudonymous (
    id            UUID PRIMARY KEY,
    workspace_id  UUID NOT NULL REFERENCES workspaces(id),
    pseudonym     TEXT NOT NULL,
    period        BIGINT NOT NULL,
    type          TEXT NOT NULL,
    name          TEXT NOT NULL,
    occurred_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX track_pseudonymous_pseudonym ON track_pseudonymous (workspace_id, pseudonym);
CREATE INDEX track_pseudonymous_time ON track_pseudonymous (workspace_id, occurred_at);

-- Anonymous counts: per hour, type and name, nothing else.
CREATE TABLE track_counts (
    workspace_id  UUID NOT NULL REFERENCES workspaces(id),
    bucket        TIMESTAMPTZ NOT NULL,
    type          TEXT NOT NULL,
    name          TEXT NOT NULL,
    count         BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, bucket, type, name)
);
