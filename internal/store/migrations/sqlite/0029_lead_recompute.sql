-- What a full recompute writes and reads, made smaller.
--
-- lead_state.contributions holds the binary packed form from now on
-- (internal/lead/pack.go: rule, points, version and time per entry, not
-- the event's ID, type and name, which are read from track_events when a
-- history or an export asks). SQLite keeps a BLOB in a column declared
-- TEXT as it is, so the column stays, and the stored text values are
-- carried over as they are and read in their text form until a row is
-- next written.

-- lead_transitions_at goes: the funnel reads a workspace's moves in the
-- key's order (contact, time), which the primary key of 0027 gives, and no
-- other reader asks by time, so a stage move writes one B-tree instead of
-- two.
DROP INDEX lead_transitions_at;

-- track_events_contact carries the event's type and name, so the
-- recompute's read of a batch's events (track.Store.Range: contact, time,
-- type, name) is covered by the index instead of looking up each event's
-- row by rowid (three million lookups at 1,000,000 contacts). The prefix
-- stays, and so do the plans of the readers that name the index.
-- PostgreSQL reads by its own plans and keeps the index.
DROP INDEX track_events_contact;
CREATE INDEX track_events_contact ON track_events (workspace_id, contact_id, occurred_at, type, name);
