-- A segment count on SQLite reads each attribute leaf as a set of contact
-- IDs (internal/lead/segset.go): with the attributes ahead of the ID, one
-- combination of audience, relationship and data source is one range in
-- ID order, merged with the other leaves' sets instead of a lookup of
-- every candidate's contact in contacts_lead_attrs.
CREATE INDEX contacts_lead_sets ON contacts (workspace_id, audience, relationship, data_source, id);
-- An owner leaf reads the owned states alone instead of every row of
-- lead_state with its packed contributions. Only handed-off leads have an
-- owner, so the recompute's writes of the other rows never touch it.
CREATE INDEX lead_state_owner ON lead_state (workspace_id, owner, contact_id) WHERE owner IS NOT NULL;
