-- Grants in packed blocks. 0008 stored one (slot, contact) entry per
-- grant, and reading 450,000 such entries was the whole cost of listing
-- an audience of a million contacts. Here each slot's contact keys are
-- packed, in ID order, into blocks of at most 56 keys: entries holds the
-- block's 16-byte keys (uuid_send), then one profile byte per key (the
-- bits 0009 gave each grant). A block covers the keys from its lo up to
-- the next block's lo; lo is never above the block's first key. A block
-- (at most 968 bytes) stays below the size at which PostgreSQL would try
-- to compress or move it out of line.
CREATE TABLE permission_blocks (
    slot     INTEGER NOT NULL,
    lo       BYTEA NOT NULL,
    entries  BYTEA NOT NULL,
    PRIMARY KEY (slot, lo)
);

-- A contact's mark now also lists the slots it is granted (ascending,
-- comma-separated; NULL for none) and its profile, so a re-derivation
-- compares with what it wrote before without reading a block, and touches
-- only the blocks of the slots that change.
ALTER TABLE permission_checks ADD COLUMN granted TEXT;
ALTER TABLE permission_checks ADD COLUMN profile SMALLINT NOT NULL DEFAULT 0;

INSERT INTO permission_blocks (slot, lo, entries)
    SELECT slot, substring(k FROM 1 FOR 16), k || p
    FROM (SELECT slot, block,
                 string_agg(uuid_send(contact_id), ''::bytea ORDER BY contact_id) AS k,
                 string_agg(set_byte('\x00'::bytea, 0, profile), ''::bytea ORDER BY contact_id) AS p
          FROM (SELECT slot, contact_id, profile, (row_number() OVER (PARTITION BY slot ORDER BY contact_id) - 1) / 56 AS block
                FROM permission_grants) g
          GROUP BY slot, block) b;

WITH held AS (
    SELECT p.space, g.contact_id, string_agg(g.slot::text, ',' ORDER BY g.slot) AS granted, max(g.profile) AS profile
    FROM permission_grants g
    JOIN permission_slots s ON s.slot = g.slot
    JOIN permission_spaces p ON p.workspace_id = s.workspace_id
    GROUP BY p.space, g.contact_id
)
UPDATE permission_checks m SET granted = held.granted, profile = held.profile
FROM held WHERE held.space = m.space AND held.contact_id = m.contact_id;

DROP TABLE permission_grants;
