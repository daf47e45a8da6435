-- Contacts with sealed personal fields, per-contact data keys, business
-- purposes, versioned notices and the append-only, hash-chained consent ledger.

-- The data key of a contact, wrapped (AES-256-GCM) under the master key.
-- wrapped is NULL once the key was shredded: everything sealed with it is
-- unreadable from then on, and the row stays so the contact cannot get a
-- fresh key by accident.
CREATE TABLE contact_keys (
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
    contact_id    TEXT NOT NULL,
    wrapped       BLOB,
    created_at    TIMESTAMP NOT NULL,
    shredded_at   TIMESTAMP,
    PRIMARY KEY (workspace_id, contact_id)
);

-- Personal fields live only in sealed; email_index and phone_index are
-- blind indexes (keyed HMACs) for lookup and dedupe.
CREATE TABLE contacts (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
    audience      TEXT NOT NULL CHECK (audience IN ('b2c','b2b')),
    relationship  TEXT NOT NULL CHECK (relationship IN ('prospect','customer','supplier')),
    data_source   TEXT NOT NULL CHECK (data_source IN ('self_provided','third_party')),
    sealed        BLOB NOT NULL,
    email_index   TEXT,
    phone_index   TEXT,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL,
    UNIQUE (workspace_id, email_index)
);
CREATE INDEX contacts_workspace ON contacts (workspace_id, id);
CREATE INDEX contacts_phone ON contacts (workspace_id, phone_index);

CREATE TABLE purposes (
    workspace_id     TEXT NOT NULL REFERENCES workspaces(id),
    purpose_key      TEXT NOT NULL,
    kind             TEXT NOT NULL CHECK (kind IN ('direct_marketing','consent_confirmation','inquiry_reply','contract','rights_response','legal_retention','analytics','personalization')),
    description_de   TEXT NOT NULL,
    description_en   TEXT NOT NULL,
    data_categories  TEXT NOT NULL DEFAULT '[]',
    channels         TEXT NOT NULL,
    built_in         BOOLEAN NOT NULL,
    created_at       TIMESTAMP NOT NULL,
    PRIMARY KEY (workspace_id, purpose_key)
);

-- A notice version is identified by the SHA-256 of its content.
CREATE TABLE notices (
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
    hash          TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('privacy_notice','supplier_privacy_notice','consent_text','objection_notice')),
    language      TEXT NOT NULL CHECK (language IN ('de','en')),
    title         TEXT NOT NULL,
    body          TEXT NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    created_by    TEXT NOT NULL,
    PRIMARY KEY (workspace_id, hash)
);
CREATE INDEX notices_hash ON notices (hash);

-- The exact texts shown at consent capture, stored once per workspace and
-- referenced from ledger evidence by their SHA-256.
CREATE TABLE evidence_texts (
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
    hash          TEXT NOT NULL,
    body          TEXT NOT NULL,
    PRIMARY KEY (workspace_id, hash)
);

-- Append-only: fairlead never updates or deletes these rows.
CREATE TABLE ledger_events (
    id               TEXT PRIMARY KEY,
    workspace_id     TEXT NOT NULL REFERENCES workspaces(id),
    contact_id       TEXT NOT NULL REFERENCES contacts(id),
    seq              INTEGER NOT NULL,
    kind             TEXT NOT NULL,
    purpose          TEXT NOT NULL,
    channels         TEXT NOT NULL,
    lawful_basis     TEXT NOT NULL,
    contact_point    TEXT NOT NULL,
    details          TEXT NOT NULL,
    evidence         TEXT NOT NULL,
    sealed_evidence  BLOB,
    occurred_at      TIMESTAMP NOT NULL,
    recorded_at      TIMESTAMP NOT NULL,
    hash             BLOB NOT NULL,
    UNIQUE (workspace_id, seq)
);
CREATE INDEX ledger_events_contact ON ledger_events (workspace_id, contact_id, seq);

-- One row per workspace: the last seq and hash. Appends lock it, which
-- serialises them per workspace and lets verify notice a missing tail.
CREATE TABLE ledger_heads (
    workspace_id  TEXT PRIMARY KEY REFERENCES workspaces(id),
    seq           INTEGER NOT NULL,
    hash          BLOB NOT NULL,
    updated_at    TIMESTAMP NOT NULL
);
