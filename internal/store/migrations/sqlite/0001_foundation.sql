-- Tenants, users, API tokens and the job queue (transactional outbox).
CREATE TABLE workspaces (
    id          TEXT PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL
);

CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    workspace_id   TEXT NOT NULL REFERENCES workspaces(id),
    email          TEXT NOT NULL,
    name           TEXT NOT NULL DEFAULT '',
    role           TEXT NOT NULL CHECK (role IN ('admin','marketing','sales','dpo','viewer')),
    password_hash  TEXT NOT NULL,
    created_at     TIMESTAMP NOT NULL,
    disabled_at    TIMESTAMP,
    UNIQUE (workspace_id, email)
);

CREATE TABLE api_tokens (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
    name          TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin','marketing','sales','dpo','viewer')),
    token_hash    TEXT NOT NULL UNIQUE,
    created_at    TIMESTAMP NOT NULL,
    last_used_at  TIMESTAMP,
    revoked_at    TIMESTAMP
);
CREATE INDEX api_tokens_workspace ON api_tokens (workspace_id, created_at);

-- workspace_id is NULL only for system maintenance jobs.
CREATE TABLE jobs (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT REFERENCES workspaces(id),
    kind          TEXT NOT NULL,
    args          TEXT NOT NULL DEFAULT '{}',
    state         TEXT NOT NULL CHECK (state IN ('available','running','completed','dead','cancelled')),
    attempt       INTEGER NOT NULL DEFAULT 0,
    max_attempts  INTEGER NOT NULL,
    run_at        TIMESTAMP NOT NULL,
    locked_by     TEXT,
    locked_until  TIMESTAMP,
    last_error    TEXT,
    unique_key    TEXT UNIQUE,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL,
    finished_at   TIMESTAMP
);
CREATE INDEX jobs_claim ON jobs (state, run_at);
CREATE INDEX jobs_workspace_state ON jobs (workspace_id, state, updated_at);
-- The clean-up deletes finished jobs past their retention, oldest first.
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE state IN ('completed','cancelled');

CREATE TABLE job_attempts (
    id            TEXT PRIMARY KEY,
    job_id        TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    workspace_id  TEXT REFERENCES workspaces(id),
    attempt       INTEGER NOT NULL,
    node          TEXT NOT NULL,
    started_at    TIMESTAMP NOT NULL,
    finished_at   TIMESTAMP,
    outcome       TEXT NOT NULL CHECK (outcome IN ('running','completed','failed','released','lease_expired')),
    error         TEXT
);
CREATE INDEX job_attempts_job ON job_attempts (job_id, attempt);
