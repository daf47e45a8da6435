-- Contact imports: each import with its declared source and counts, the
-- provenance of every contact an import created or enriched, and the
-- Art. 14 GDPR notice duty for contacts obtained from third parties. No
-- personal data in clear: contacts appear by ID; the values themselves are
-- sealed in contact_values (source import:ID).

CREATE TABLE imports (
    id            UUID PRIMARY KEY,
    workspace_id  UUID NOT NULL REFERENCES workspaces(id),
    source_name   TEXT NOT NULL,
    data_source   TEXT NOT NULL CHECK (data_source IN ('self_provided','third_party')),
    format        TEXT NOT NULL,
    actor         TEXT NOT NULL,
    lines         INTEGER NOT NULL DEFAULT 0,
    created       INTEGER NOT NULL DEFAULT 0,
    enriched      INTEGER NOT NULL DEFAULT 0,
    unchanged     INTEGER NOT NULL DEFAULT 0,
    rejected      INTEGER NOT NULL DEFAULT 0,
    suppressed    INTEGER NOT NULL DEFAULT 0,
    started_at    TIMESTAMPTZ NOT NULL,
    finished_at   TIMESTAMPTZ
);
CREATE INDEX imports_workspace ON imports (workspace_id, started_at);

-- Which import created or enriched which contact, from which line.
CREATE TABLE contact_provenance (
    workspace_id  UUID NOT NULL REFERENCES workspaces(id),
    contact_id    UUID NOT NULL,
    import_id     UUID NOT NULL REFERENCES imports(id),
    line          INTEGER NOT NULL,
    action        TEXT NOT NULL CHECK (action IN ('created','enriched','unchanged')),
    data_source   TEXT NOT NULL,
    source_name   TEXT NOT NULL,
    recorded_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workspace_id, contact_id, import_id)
);

-- The duty to inform a person whose data came from a third party
-- (Art. 14(3) GDPR): within one month of obtaining them, or at the first
-- communication if that is earlier. Done records the notice_given event.
CREATE TABLE art14_tasks (
    id               UUID PRIMARY KEY,
    workspace_id     UUID NOT NULL REFERENCES workspaces(id),
    contact_id       UUID NOT NULL,
    import_id        UUID NOT NULL REFERENCES imports(id),
    source_name      TEXT NOT NULL,
    obtained_at      TIMESTAMPTZ NOT NULL,
    due_at           TIMESTAMPTZ NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('open','done')),
    done_at          TIMESTAMPTZ,
    done_by          TEXT NOT NULL DEFAULT '',
    notice_event_id  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX art14_tasks_open ON art14_tasks (workspace_id, status, due_at);
CREATE UNIQUE INDEX art14_tasks_contact ON art14_tasks (workspace_id, contact_id);
