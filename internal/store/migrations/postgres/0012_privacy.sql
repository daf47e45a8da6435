-- Privacy operations: data subject requests as cases with a log, the
-- erasure record of each erased or restricted contact, the suppression
-- list that outlives an erasure, retention policies and the record of
-- every clean-up action. None of these tables holds personal data in
-- clear: contacts appear by ID, e-mail addresses and phone numbers only as
-- their blind index (keyed HMAC).

CREATE TABLE dsr_cases (
    id                UUID PRIMARY KEY,
    workspace_id      UUID NOT NULL REFERENCES workspaces(id),
    contact_id        UUID NOT NULL,
    request_type      TEXT NOT NULL CHECK (request_type IN ('access','portability','rectification','erasure','restriction','objection')),
    status            TEXT NOT NULL CHECK (status IN ('received','verifying','in_progress','extended','completed','rejected')),
    received_at       TIMESTAMPTZ NOT NULL,
    due_at            TIMESTAMPTZ NOT NULL,
    extended_months   INTEGER NOT NULL DEFAULT 0,
    extension_reason  TEXT NOT NULL DEFAULT '',
    verified_at       TIMESTAMPTZ,
    verification      TEXT NOT NULL DEFAULT '',
    closed_at         TIMESTAMPTZ,
    created_by        TEXT NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL
);
CREATE INDEX dsr_cases_workspace ON dsr_cases (workspace_id, status, due_at);
CREATE INDEX dsr_cases_contact ON dsr_cases (workspace_id, contact_id);

-- Each step of a case: who did what when. note is written by the data
-- protection officer and must not repeat personal data.
CREATE TABLE dsr_case_log (
    id            UUID PRIMARY KEY,
    workspace_id  UUID NOT NULL REFERENCES workspaces(id),
    case_id       UUID NOT NULL REFERENCES dsr_cases(id),
    step          TEXT NOT NULL,
    actor         TEXT NOT NULL,
    note          TEXT NOT NULL DEFAULT '',
    at            TIMESTAMPTZ NOT NULL
);
CREATE INDEX dsr_case_log_case ON dsr_case_log (workspace_id, case_id, at);

-- One row per contact whose erasure was asked for: restricted while a
-- retention duty runs (delete_after = the day after it ends), executed once
-- the personal data are gone.
CREATE TABLE erasures (
    workspace_id  UUID NOT NULL REFERENCES workspaces(id),
    contact_id    UUID NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('restricted','executed')),
    actor         TEXT NOT NULL,
    retained      TEXT NOT NULL DEFAULT '[]',
    delete_after  TIMESTAMPTZ,
    restricted_at TIMESTAMPTZ,
    executed_at   TIMESTAMPTZ,
    PRIMARY KEY (workspace_id, contact_id)
);
CREATE INDEX erasures_due ON erasures (status, delete_after);

-- Blind indexes that must not be contacted again, with why: an objection
-- or "do not contact" outlives the erasure, and a re-import is flagged.
CREATE TABLE suppressions (
    workspace_id  UUID NOT NULL REFERENCES workspaces(id),
    kind          TEXT NOT NULL CHECK (kind IN ('email','phone')),
    blind_index   TEXT NOT NULL,
    reason        TEXT NOT NULL CHECK (reason IN ('objection','do_not_contact','erased')),
    contact_id    UUID NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workspace_id, kind, blind_index)
);

-- Per-workspace overrides of the retention rules; a rule without a row
-- applies its default.
CREATE TABLE retention_policies (
    workspace_id  UUID NOT NULL REFERENCES workspaces(id),
    rule          TEXT NOT NULL,
    enabled       BOOLEAN NOT NULL,
    after_days    INTEGER NOT NULL,
    updated_by    TEXT NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workspace_id, rule)
);

-- Every clean-up run and each action it took, by rule and contact ID.
CREATE TABLE retention_runs (
    id            UUID PRIMARY KEY,
    workspace_id  UUID NOT NULL REFERENCES workspaces(id),
    started_at    TIMESTAMPTZ NOT NULL,
    finished_at   TIMESTAMPTZ,
    evaluated     INTEGER NOT NULL DEFAULT 0,
    summary       TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX retention_runs_workspace ON retention_runs (workspace_id, started_at);

CREATE TABLE retention_actions (
    id            UUID PRIMARY KEY,
    workspace_id  UUID NOT NULL REFERENCES workspaces(id),
    run_id        UUID NOT NULL REFERENCES retention_runs(id),
    rule          TEXT NOT NULL,
    action        TEXT NOT NULL,
    contact_id    UUID NOT NULL,
    outcome       TEXT NOT NULL,
    at            TIMESTAMPTZ NOT NULL
);
CREATE INDEX retention_actions_run ON retention_actions (workspace_id, run_id);
