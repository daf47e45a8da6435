-- lead_transitions keyed by what its readers ask for: a contact's moves in
-- time order (history, access export, erasure's unlinking) are a range of
-- the key, and the funnel keeps its index by time. The table is rebuilt
-- WITHOUT ROWID with the key (workspace_id, contact_id, at, id), so a
-- stage move writes two B-trees (the row and lead_transitions_at) instead
-- of four (the table, the index of id, lead_transitions_contact and
-- lead_transitions_at). id has no unique index of its own any more: ids
-- are random, and no reader looks a move up by id. The stored rows are
-- carried over.
CREATE TABLE lead_transitions_keyed (
    id            TEXT NOT NULL,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
    contact_id    TEXT NOT NULL,
    from_stage    TEXT NOT NULL,
    to_stage      TEXT NOT NULL,
    at            TIMESTAMP NOT NULL,
    cause         TEXT NOT NULL,
    actor         TEXT NOT NULL,
    reason        TEXT NOT NULL,
    PRIMARY KEY (workspace_id, contact_id, at, id)
) WITHOUT ROWID;

INSERT INTO lead_transitions_keyed (id, workspace_id, contact_id, from_stage, to_stage, at, cause, actor, reason)
SELECT id, workspace_id, contact_id, from_stage, to_stage, at, cause, actor, reason FROM lead_transitions;

DROP TABLE lead_transitions;
ALTER TABLE lead_transitions_keyed RENAME TO lead_transitions;
CREATE INDEX lead_transitions_at ON lead_transitions (workspace_id, at);
