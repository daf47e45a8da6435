-- Leaner ledger storage (see the SQLite migration of the same number).
-- Nothing looks an event up by its id, so its index goes; the index on
-- (workspace_id, seq), which verify and every append read, becomes the
-- primary key. The contact point is stored as its 32 bytes, as on SQLite;
-- a contact point that is not lower-case hex would not read back as the
-- text its hash covers, so the migration refuses to run if one exists.
-- contact_keys needs no change here: a heap with its key's index is what
-- PostgreSQL has.
ALTER TABLE ledger_events DROP CONSTRAINT ledger_events_pkey,
    DROP CONSTRAINT ledger_events_workspace_id_seq_key,
    ADD PRIMARY KEY (workspace_id, seq);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM ledger_events WHERE contact_point !~ '^([0-9a-f]{2})*$') THEN
        RAISE EXCEPTION 'ledger_events holds a contact point that is not lower-case hex; it cannot be stored as bytes without breaking its hash';
    END IF;
END $$;
ALTER TABLE ledger_events ALTER COLUMN contact_point TYPE BYTEA USING decode(contact_point, 'hex');
