-- The permission state: what the engine allows each contact now, kept by
-- the same transaction that changes the contact or appends to its ledger,
-- so audience resolution reads an index instead of deriving every
-- contact's facts. A mark says when a contact's state was derived, until
-- when it holds (recheck_at: a retention duty ending, an event dated
-- ahead), and for which catalogue of business purposes (catalog: the
-- number of custom purposes, which only grows). Contacts whose mark is
-- missing, older than the catalogue or due are decided live.
CREATE TABLE permission_marks (
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
    contact_id    TEXT NOT NULL,
    computed_at   TIMESTAMP NOT NULL,
    recheck_at    TIMESTAMP,
    catalog       INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, contact_id)
);
CREATE INDEX permission_marks_recheck ON permission_marks (workspace_id, recheck_at);
CREATE INDEX permission_marks_catalog ON permission_marks (workspace_id, catalog);

-- One row per business purpose x channel the engine allows a contact
-- (decided without campaign-specific facts).
CREATE TABLE permission_allowed (
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
    purpose_key   TEXT NOT NULL,
    channel       TEXT NOT NULL,
    contact_id    TEXT NOT NULL,
    PRIMARY KEY (workspace_id, purpose_key, channel, contact_id)
) WITHOUT ROWID;
CREATE INDEX permission_allowed_contact ON permission_allowed (workspace_id, contact_id);

-- Contacts that exist already are decided live until they change.
INSERT INTO permission_marks (workspace_id, contact_id, computed_at, recheck_at, catalog)
    SELECT workspace_id, id, created_at, NULL, -1 FROM contacts;
