-- A leaner permission state. 0004 stored every grant as four text columns
-- (workspace, purpose, channel and contact IDs) under two indexes: about
-- 1.3 KB per contact, and audience resolution spent its time walking those
-- bytes. Here a workspace's purpose x channel pairs get small integer slots
-- and a workspace an integer space, contact IDs are stored as their 16
-- bytes (which sort like the text), and a grant is one entry of a
-- WITHOUT ROWID table: (slot, contact). Every query finds its slots or
-- space through the workspace_id first.
CREATE TABLE permission_spaces (
    space         INTEGER PRIMARY KEY,
    workspace_id  TEXT NOT NULL UNIQUE REFERENCES workspaces(id)
);

CREATE TABLE permission_slots (
    slot          INTEGER PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
    purpose_key   TEXT NOT NULL,
    channel       TEXT NOT NULL,
    UNIQUE (workspace_id, purpose_key, channel)
);

-- One entry per business purpose x channel the engine allows a contact
-- (decided without campaign-specific facts), in contact ID order per slot.
CREATE TABLE permission_grants (
    slot        INTEGER NOT NULL,
    contact_id  BLOB NOT NULL,
    PRIMARY KEY (slot, contact_id)
) WITHOUT ROWID;

-- The mark of a contact: for which catalogue of business purposes its
-- grants were derived (catalog: the number of custom purposes, which only
-- grows) and until when they hold (recheck_at, Unix microseconds: a
-- retention duty ending, an event dated ahead). Contacts whose mark is
-- missing, older than the catalogue or due are decided live.
CREATE TABLE permission_checks (
    space       INTEGER NOT NULL,
    contact_id  BLOB NOT NULL,
    catalog     INTEGER NOT NULL,
    recheck_at  INTEGER,
    PRIMARY KEY (space, contact_id)
) WITHOUT ROWID;
CREATE INDEX permission_checks_catalog ON permission_checks (space, catalog);
CREATE INDEX permission_checks_recheck ON permission_checks (space, recheck_at) WHERE recheck_at IS NOT NULL;

-- Carry the state over. Contacts that had a recheck time are marked as
-- derived under an older catalogue instead, so they are decided live until
-- they next change: converting the text time could only round it.
INSERT INTO permission_spaces (workspace_id) SELECT id FROM workspaces ORDER BY id;
INSERT INTO permission_slots (workspace_id, purpose_key, channel)
    SELECT DISTINCT workspace_id, purpose_key, channel FROM permission_allowed ORDER BY 1, 2, 3;
INSERT INTO permission_grants (slot, contact_id)
    SELECT s.slot, unhex(replace(a.contact_id, '-', ''))
    FROM permission_allowed a
    JOIN permission_slots s ON s.workspace_id = a.workspace_id AND s.purpose_key = a.purpose_key AND s.channel = a.channel;
INSERT INTO permission_checks (space, contact_id, catalog, recheck_at)
    SELECT p.space, unhex(replace(m.contact_id, '-', '')), CASE WHEN m.recheck_at IS NULL THEN m.catalog ELSE -1 END, NULL
    FROM permission_marks m
    JOIN permission_spaces p ON p.workspace_id = m.workspace_id;

DROP TABLE permission_allowed;
DROP TABLE permission_marks;
