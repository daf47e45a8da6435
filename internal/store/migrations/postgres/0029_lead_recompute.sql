-- What a full recompute writes and reads, made smaller.
--
-- lead_state.contributions holds the binary packed form from now on
-- (internal/lead/pack.go: rule, points, version and time per entry, not
-- the event's ID, type and name, which are read from track_events when a
-- history or an export asks). The stored text values are carried over as
-- their bytes and read in their text form until a row is next written.
ALTER TABLE lead_state ALTER COLUMN contributions DROP DEFAULT;
ALTER TABLE lead_state ALTER COLUMN contributions TYPE bytea USING convert_to(contributions, 'UTF8');
ALTER TABLE lead_state ALTER COLUMN contributions SET DEFAULT ''::bytea;

-- lead_transitions_at goes: the funnel reads a workspace's moves in the
-- key's order (contact, time), which the primary key of 0027 gives, and no
-- other reader asks by time, so a stage move writes one index fewer.
DROP INDEX lead_transitions_at;
