-- The admin web UI: login sessions, TOTP second factors and the failed
-- login counters behind the lock-out. A session row holds only the SHA-256
-- of its cookie token, so a copy of the database cannot be replayed as a
-- login. Failure counters are keyed by a keyed hash of the account or
-- address, never by the e-mail address or IP address itself.

CREATE TABLE admin_sessions (
    id             TEXT PRIMARY KEY,          -- hex SHA-256 of the cookie token
    workspace_id   TEXT NOT NULL REFERENCES workspaces(id),
    user_id        TEXT NOT NULL REFERENCES users(id),
    lang           TEXT NOT NULL DEFAULT 'en' CHECK (lang IN ('de','en')),
    second_factor  INTEGER NOT NULL DEFAULT 0, -- 1: the TOTP code is still to be entered
    created_at     TIMESTAMP NOT NULL,
    last_seen_at   TIMESTAMP NOT NULL,
    expires_at     TIMESTAMP NOT NULL
);
CREATE INDEX admin_sessions_user ON admin_sessions (workspace_id, user_id);
CREATE INDEX admin_sessions_expiry ON admin_sessions (expires_at);

CREATE TABLE admin_totp (
    workspace_id   TEXT NOT NULL REFERENCES workspaces(id),
    user_id        TEXT NOT NULL REFERENCES users(id),
    secret         TEXT NOT NULL,
    created_at     TIMESTAMP NOT NULL,
    activated_at   TIMESTAMP,
    last_step      INTEGER NOT NULL DEFAULT 0, -- the last accepted time step: a code works once
    PRIMARY KEY (workspace_id, user_id)
);

CREATE TABLE admin_login_failures (
    subject        TEXT PRIMARY KEY,          -- "account:" or "ip:" + keyed hash
    failures       INTEGER NOT NULL,
    first_at       TIMESTAMP NOT NULL,
    locked_until   TIMESTAMP
);

-- The dashboard counts new contacts per day and ledger events per kind over
-- the last weeks; these keep both to an index range.
CREATE INDEX contacts_created ON contacts (workspace_id, created_at);
CREATE INDEX ledger_events_kind_time ON ledger_events (workspace_id, kind, recorded_at);

-- Processors (Art. 28 GDPR) for the record of processing activities
-- (Art. 30) and the public transparency page: who processes data on the
-- workspace's behalf, where, under which agreement.
CREATE TABLE admin_processors (
    id               TEXT PRIMARY KEY,
    workspace_id     TEXT NOT NULL REFERENCES workspaces(id),
    name             TEXT NOT NULL,
    service          TEXT NOT NULL,
    location         TEXT NOT NULL,
    dpa_signed_on    TEXT NOT NULL,            -- YYYY-MM-DD
    data_categories  TEXT NOT NULL,            -- comma-separated
    created_at       TIMESTAMP NOT NULL
);
CREATE INDEX admin_processors_workspace ON admin_processors (workspace_id, name);
