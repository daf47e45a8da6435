-- Lead capture: form definitions with immutable versions, profile values
-- with their provenance and history, double opt-in tokens, and the
-- per-workspace settings the public pages and messages need.

-- The current version of each form; every saved version stays in
-- form_versions so evidence naming form@version can be read back. A form
-- key is its public address (/p/forms/KEY), so it is unique across
-- workspaces; the page is public anyway, so this reveals nothing.
CREATE TABLE forms (
    workspace_id  UUID NOT NULL REFERENCES workspaces(id),
    form_key      TEXT NOT NULL,
    version       INTEGER NOT NULL,
    definition    TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workspace_id, form_key),
    UNIQUE (form_key)
);

CREATE TABLE form_versions (
    workspace_id  UUID NOT NULL REFERENCES workspaces(id),
    form_key      TEXT NOT NULL,
    version       INTEGER NOT NULL,
    definition    TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    created_by    TEXT NOT NULL,
    PRIMARY KEY (workspace_id, form_key, version)
);

-- Every value a person gave, sealed with the contact's data key, with where
-- it came from (source: form:KEY@VERSION, api, import) and when. A changed
-- value supersedes the old row instead of overwriting it (progressive
-- profiling keeps the history; erasure shreds the key).
CREATE TABLE contact_values (
    id             UUID PRIMARY KEY,
    workspace_id   UUID NOT NULL REFERENCES workspaces(id),
    contact_id     UUID NOT NULL,
    name           TEXT NOT NULL,
    sealed         BYTEA NOT NULL,
    source         TEXT NOT NULL,
    recorded_at    TIMESTAMPTZ NOT NULL,
    superseded_at  TIMESTAMPTZ
);
CREATE INDEX contact_values_contact ON contact_values (workspace_id, contact_id, name, recorded_at);

-- A double opt-in request: the secret part of the link or the SMS code is
-- never stored (the link is a MAC over the ID; the code is kept as a MAC).
CREATE TABLE doi_requests (
    id            UUID PRIMARY KEY,
    workspace_id  UUID NOT NULL REFERENCES workspaces(id),
    contact_id    UUID NOT NULL,
    channel       TEXT NOT NULL CHECK (channel IN ('email','sms')),
    form_key      TEXT NOT NULL,
    form_version  INTEGER NOT NULL,
    lang          TEXT NOT NULL CHECK (lang IN ('de','en')),
    consents      TEXT NOT NULL,
    code_mac      TEXT,
    attempts      INTEGER NOT NULL DEFAULT 0,
    created_at    TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL,
    confirmed_at  TIMESTAMPTZ
);
CREATE INDEX doi_requests_contact ON doi_requests (workspace_id, contact_id);

-- Per-workspace settings (imprint, public URL, sender, token lifetimes) as
-- JSON, and the secrets (SMTP and SMS gateway URLs with credentials)
-- sealed under the master key.
CREATE TABLE workspace_settings (
    workspace_id  UUID PRIMARY KEY REFERENCES workspaces(id),
    settings      TEXT NOT NULL,
    secrets       BYTEA,
    updated_at    TIMESTAMPTZ NOT NULL
);
