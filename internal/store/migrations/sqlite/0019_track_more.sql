-- Tracking beyond identified events (docs/tracking.md).
--
-- The workspace's choice about pseudonymous analytics: off unless enabled,
-- and how many days one pseudonym lives before the key behind it is
-- replaced.
CREATE TABLE track_settings (
    workspace_id   TEXT PRIMARY KEY REFERENCES workspaces(id),
    pseudonymous   BOOLEAN NOT NULL,
    rotation_days  INTEGER NOT NULL,
    updated_at     TIMESTAMP NOT NULL
);

-- The key of the current pseudonym period, random and sealed under the
-- master key. One row per workspace: a new period replaces the row, so the
-- key of a closed period exists nowhere and its pseudonyms cannot be
-- recomputed from a visitor signal.
CREATE TABLE track_period_keys (
    workspace_id   TEXT PRIMARY KEY REFERENCES workspaces(id),
    rotation_days  INTEGER NOT NULL,
    period         INTEGER NOT NULL,
    sealed         BLOB NOT NULL,
    created_at     TIMESTAMP NOT NULL
);

-- Pseudonymous events: a keyed pseudonym of the visitor signal (never the
-- IP address or user agent themselves), no contact.
CREATE TABLE track_pseudonymous (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
    pseudonym     TEXT NOT NULL,
    period        INTEGER NOT NULL,
    type          TEXT NOT NULL,
    name          TEXT NOT NULL,
    occurred_at   TIMESTAMP NOT NULL
);
CREATE INDEX track_pseudonymous_pseudonym ON track_pseudonymous (workspace_id, pseudonym);
CREATE INDEX track_pseudonymous_time ON track_pseudonymous (workspace_id, occurred_at);

-- Anonymous counts: per hour, type and name, nothing else.
CREATE TABLE track_counts (
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
    bucket        TIMESTAMP NOT NULL,
    type          TEXT NOT NULL,
    name          TEXT NOT NULL,
    count         INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, bucket, type, name)
);
