-- SQLite reads attribute leaves of a segment count as ranges of
-- (workspace_id, audience, relationship, data_source, id); PostgreSQL
-- counts a segment with one query and joins by hash, so it needs no such
-- index. An owner leaf reads the owned states alone on both, instead of
-- every row of lead_state; only handed-off leads have an owner, so the
-- recompute's writes of the other rows never touch the index.
CREATE INDEX lead_state_owner ON lead_state (workspace_id, owner, contact_id) WHERE owner IS NOT NULL;
