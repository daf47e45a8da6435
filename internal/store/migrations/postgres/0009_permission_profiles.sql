-- Each grant carries the contact record's audience, relationship and data
-- source as bits (its profile: b2c 1, b2b 2; prospect 4, customer 8,
-- supplier 16; self_provided 32, third_party 64), so an audience narrowed
-- by them is read from the grants alone instead of looking every grant up
-- in contacts. The permission state rewrites a contact's profiles whenever
-- the contact changes. A grant whose contact is not found keeps 0, which
-- no filter matches.
ALTER TABLE permission_grants ADD COLUMN profile SMALLINT NOT NULL DEFAULT 0;

UPDATE permission_grants g SET profile =
      (CASE c.audience WHEN 'b2c' THEN 1 WHEN 'b2b' THEN 2 ELSE 0 END)
    | (CASE c.relationship WHEN 'prospect' THEN 4 WHEN 'customer' THEN 8 WHEN 'supplier' THEN 16 ELSE 0 END)
    | (CASE c.data_source WHEN 'self_provided' THEN 32 WHEN 'third_party' THEN 64 ELSE 0 END)
FROM permission_slots s, contacts c
WHERE s.slot = g.slot AND c.workspace_id = s.workspace_id AND c.id = g.contact_id;

-- The profile joins the key's index, so a filtered audience is still an
-- index-only scan (SQLite's WITHOUT ROWID table holds it in the entry).
ALTER TABLE permission_grants DROP CONSTRAINT permission_grants_pkey;
ALTER TABLE permission_grants ADD PRIMARY KEY (slot, contact_id) INCLUDE (profile);
