-- lead_transitions keyed by what its readers ask for: a contact's moves in
-- time order (history, access export, erasure's unlinking) are a range of
-- the primary key (workspace_id, contact_id, at, id), which takes the
-- place of the key on id and of lead_transitions_contact, so a stage move
-- writes two indexes instead of three. id has no unique index of its own
-- any more: ids are random, and no reader looks a move up by id. The rows
-- stay where they are.
ALTER TABLE lead_transitions DROP CONSTRAINT lead_transitions_pkey;
ALTER TABLE lead_transitions ADD PRIMARY KEY (workspace_id, contact_id, at, id);
DROP INDEX lead_transitions_contact;
