-- Leaner ledger storage. ledger_events had two unique indexes beside its
-- rows, on id and on (workspace_id, seq); nothing looks an event up by its
-- id, which stays a column, so its index goes. (Keying the table by
-- (workspace_id, seq) WITHOUT ROWID would save the second one too, but
-- without ANALYZE statistics SQLite then reads a contact's events by
-- walking the workspace's whole chain through that key instead of using
-- ledger_events_contact.) contact_keys lived in a rowid table plus its
-- key's index; it is now the key's B-tree alone (WITHOUT ROWID), which
-- every read of it uses. An event's contact point, a blind index of 64 hex
-- digits, is stored as its 32 bytes; the ledger reads it back as the same
-- text, and the hash covers that text, so every hash still covers exactly
-- what it covered. A contact point that is not lower-case hex (none is
-- written so) is kept as the text it is, and read as such.

DROP TRIGGER ledger_events_no_update;
DROP TRIGGER ledger_events_no_delete;

CREATE TABLE ledger_events_new (
    id               TEXT NOT NULL,
    workspace_id     TEXT NOT NULL REFERENCES workspaces(id),
    contact_id       TEXT NOT NULL REFERENCES contacts(id),
    seq              INTEGER NOT NULL,
    kind             TEXT NOT NULL,
    purpose          TEXT NOT NULL,
    channels         TEXT NOT NULL,
    lawful_basis     TEXT NOT NULL,
    contact_point    BLOB NOT NULL,
    details          TEXT NOT NULL,
    evidence         TEXT NOT NULL,
    sealed_evidence  BLOB,
    occurred_at      TIMESTAMP NOT NULL,
    recorded_at      TIMESTAMP NOT NULL,
    hash             BLOB NOT NULL,
    UNIQUE (workspace_id, seq)
);

INSERT INTO ledger_events_new (id, workspace_id, contact_id, seq, kind, purpose, channels, lawful_basis, contact_point, details, evidence, sealed_evidence, occurred_at, recorded_at, hash)
    SELECT id, workspace_id, contact_id, seq, kind, purpose, channels, lawful_basis,
           CASE WHEN contact_point = lower(contact_point) AND unhex(contact_point) IS NOT NULL THEN unhex(contact_point) ELSE contact_point END,
           details, evidence, sealed_evidence, occurred_at, recorded_at, hash
    FROM ledger_events ORDER BY workspace_id, seq;

DROP TABLE ledger_events;
ALTER TABLE ledger_events_new RENAME TO ledger_events;

CREATE INDEX ledger_events_contact ON ledger_events (workspace_id, contact_id, seq);
CREATE INDEX ledger_events_kind_time ON ledger_events (workspace_id, kind, recorded_at);

CREATE TRIGGER ledger_events_no_update BEFORE UPDATE ON ledger_events
BEGIN SELECT RAISE(ABORT, 'ledger_events is append-only'); END;
CREATE TRIGGER ledger_events_no_delete BEFORE DELETE ON ledger_events
BEGIN SELECT RAISE(ABORT, 'ledger_events is append-only'); END;

CREATE TABLE contact_keys_new (
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
    contact_id    TEXT NOT NULL,
    wrapped       BLOB,
    created_at    TIMESTAMP NOT NULL,
    shredded_at   TIMESTAMP,
    key_id        TEXT,
    PRIMARY KEY (workspace_id, contact_id)
) WITHOUT ROWID;

INSERT INTO contact_keys_new (workspace_id, contact_id, wrapped, created_at, shredded_at, key_id)
    SELECT workspace_id, contact_id, wrapped, created_at, shredded_at, key_id
    FROM contact_keys ORDER BY workspace_id, contact_id;

DROP TABLE contact_keys;
ALTER TABLE contact_keys_new RENAME TO contact_keys;
