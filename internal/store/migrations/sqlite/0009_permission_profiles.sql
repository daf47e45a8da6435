-- Each grant carries the contact record's audience, relationship and data
-- source as bits (its profile: b2c 1, b2b 2; prospect 4, customer 8,
-- supplier 16; self_provided 32, third_party 64), so an audience narrowed
-- by them is read from the grants alone instead of looking every grant up
-- in contacts. The permission state rewrites a contact's profiles whenever
-- the contact changes. A grant whose contact is not found gets 0, which no
-- filter matches.
ALTER TABLE permission_grants ADD COLUMN profile INTEGER NOT NULL DEFAULT 0;

UPDATE permission_grants SET profile = COALESCE((
    SELECT (CASE c.audience WHEN 'b2c' THEN 1 WHEN 'b2b' THEN 2 ELSE 0 END)
         | (CASE c.relationship WHEN 'prospect' THEN 4 WHEN 'customer' THEN 8 WHEN 'supplier' THEN 16 ELSE 0 END)
         | (CASE c.data_source WHEN 'self_provided' THEN 32 WHEN 'third_party' THEN 64 ELSE 0 END)
    FROM permission_slots s JOIN contacts c ON c.workspace_id = s.workspace_id
    WHERE s.slot = permission_grants.slot
      AND c.id = lower(substr(hex(permission_grants.contact_id), 1, 8) || '-' || substr(hex(permission_grants.contact_id), 9, 4) || '-' ||
                       substr(hex(permission_grants.contact_id), 13, 4) || '-' || substr(hex(permission_grants.contact_id), 17, 4) || '-' ||
                       substr(hex(permission_grants.contact_id), 21))), 0);
