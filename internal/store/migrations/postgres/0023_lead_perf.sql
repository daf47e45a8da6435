-- Segment counts without a pass over every contact (docs/leads.md): an
-- event leaf reads the events of one type since a time and joins their
-- contacts; a score leaf reads, per stored fit, the range of engagement
-- (eng_log) that can reach the number, from the index alone; attribute
-- leaves read the contact's plain attributes from an index instead of its
-- row, which carries the sealed personal fields.
CREATE INDEX track_events_type ON track_events (workspace_id, type, occurred_at, contact_id);
CREATE INDEX lead_state_score ON lead_state (workspace_id, fit, eng_log);
CREATE INDEX contacts_lead_attrs ON contacts (workspace_id, id, audience, relationship, data_source);
