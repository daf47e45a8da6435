-- The chain head carries a MAC under a key derived from the master key, so
-- cutting events off the end and rewinding the head is detected by verify
-- unless whoever did it also holds the master key. The ledger's tables
-- refuse UPDATE and DELETE: they are append-only in the database itself.
ALTER TABLE ledger_heads ADD COLUMN mac TEXT;

CREATE TRIGGER ledger_events_no_update BEFORE UPDATE ON ledger_events
BEGIN SELECT RAISE(ABORT, 'ledger_events is append-only'); END;
CREATE TRIGGER ledger_events_no_delete BEFORE DELETE ON ledger_events
BEGIN SELECT RAISE(ABORT, 'ledger_events is append-only'); END;
CREATE TRIGGER evidence_texts_no_update BEFORE UPDATE ON evidence_texts
BEGIN SELECT RAISE(ABORT, 'evidence_texts is append-only'); END;
CREATE TRIGGER evidence_texts_no_delete BEFORE DELETE ON evidence_texts
BEGIN SELECT RAISE(ABORT, 'evidence_texts is append-only'); END;
