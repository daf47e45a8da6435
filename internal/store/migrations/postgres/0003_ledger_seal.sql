-- The chain head carries a MAC under a key derived from the master key, so
-- cutting events off the end and rewinding the head is detected by verify
-- unless whoever did it also holds the master key. The ledger's tables
-- refuse UPDATE and DELETE: they are append-only in the database itself.
ALTER TABLE ledger_heads ADD COLUMN mac TEXT;

CREATE FUNCTION fairlead_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END
$$;
CREATE TRIGGER ledger_events_append_only BEFORE UPDATE OR DELETE ON ledger_events
    FOR EACH ROW EXECUTE FUNCTION fairlead_append_only();
CREATE TRIGGER evidence_texts_append_only BEFORE UPDATE OR DELETE ON evidence_texts
    FOR EACH ROW EXECUTE FUNCTION fairlead_append_only();
