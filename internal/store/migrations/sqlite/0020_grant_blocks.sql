-- Grants in packed blocks. 0008 stored one (slot, contact) entry per
-- grant, and walking 450,000 such entries costs SQLite 100-250 ns each, so
-- an audience of a million contacts could not be listed in 100 ms. Here
-- each slot's contact keys are packed, in ID order, into blocks of at most
-- 56 keys: entries holds the block's 16-byte keys, then one profile byte
-- per key (the bits 0009 gave each grant). A block covers the keys from its
-- lo up to the next block's lo; lo is never above the block's first key.
-- 56 keys (952 bytes) keep an entry of this WITHOUT ROWID table on one
-- 4 KiB page, without overflow.
CREATE TABLE permission_blocks (
    slot     INTEGER NOT NULL,
    lo       BLOB NOT NULL,
    entries  BLOB NOT NULL,
    PRIMARY KEY (slot, lo)
) WITHOUT ROWID;

-- A contact's mark now also lists the slots it is granted (ascending,
-- comma-separated; NULL for none) and its profile, so a re-derivation
-- compares with what it wrote before without reading a block, and touches
-- only the blocks of the slots that change.
ALTER TABLE permission_checks ADD COLUMN granted TEXT;
ALTER TABLE permission_checks ADD COLUMN profile INTEGER NOT NULL DEFAULT 0;

INSERT INTO permission_blocks (slot, lo, entries)
    SELECT slot, min(contact_id),
           CAST(group_concat(contact_id, '' ORDER BY contact_id) || group_concat(unhex(printf('%02x', profile)), '' ORDER BY contact_id) AS BLOB)
    FROM (SELECT slot, contact_id, profile, (row_number() OVER (PARTITION BY slot ORDER BY contact_id) - 1) / 56 AS block
          FROM permission_grants)
    GROUP BY slot, block;

WITH held AS (
    SELECT p.space, g.contact_id, group_concat(g.slot, ',' ORDER BY g.slot) AS granted, max(g.profile) AS profile
    FROM permission_grants g
    JOIN permission_slots s ON s.slot = g.slot
    JOIN permission_spaces p ON p.workspace_id = s.workspace_id
    GROUP BY p.space, g.contact_id
)
UPDATE permission_checks SET granted = held.granted, profile = held.profile
FROM held WHERE held.space = permission_checks.space AND held.contact_id = permission_checks.contact_id;

DROP TABLE permission_grants;
