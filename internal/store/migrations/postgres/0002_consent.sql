-- Contacts with sealed personal fields, per-contact data keys, business
-- purposes, versioned notices and the append-only, hash-chained consent ledger.

-- The data key of a contact, wrapped (AES-256-GCM) under the master key.
-- wrapped is NULL once the key was shredded: everything sealed with it is
-- unreadable from then on, and the row stays so the contact cannot get a
-- fresh key by accident.
CREATE TABLE contact_keys (
    workspace_id  UUID NOT NULL REFERENCES workspaces(id),
    contact_id    UUID NOT NULL,
    wrapped       BYTEA,
    created_at    TIMESTAMPTZ NOT NULL,
    shredded_at   TIMESTAMPTZ,
    PRIMARY KEY (workspace_id, contact_id)
);

-- Personal fields live only in sealed; email_index and phone_index are
-- blind indexes (keyed HMACs) for lookup and dedupe.
CREATE TABLE contacts (
    id            UUID PRIMARY KEY,
    workspace_id  UUID NOT NULL REFERENCES workspaces(id),
    audience      TEXT NOT NULL CHECK (audience IN ('b2c','b2b')),
    relationship  TEXT NOT NULL CHECK (relationship IN ('prospect','customer','supplier')),
    data_source   TEXT NOT NULL CHECK (data_source IN ('self_provided','third_party')),
    sealed        BYTEA NOT NULL,
    email_index   TEXT,
    phone_index   TEXT,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    UNIQUE (workspace_id, email_index)
);
CREATE INDEX contacts_workspace ON contacts (workspace_id, id);
CREATE INDEX contacts_phone ON contacts (workspace_id, phone_index);

CREATE TABLE purposes (
    workspace_id     UUID NOT NULL REFERENCES workspaces(id),
    purpose_key      TEXT NOT NULL,
    kind             TEXT NOT NULL CHECK (kind IN ('direct_marketing','consent_confirmation','inquiry_reply','contract','rights_response','legal_retention','analytics','personalization')),
    description_de   TEXT NOT NULL,
    description_en   TEXT NOT NULL,
    data_categories  TEXT NOT NULL DEFAULT '[]',
    channels         TEXT NOT NULL,
    built_in         BOOLEAN NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workspace_id, purpose_key)
);

-- A notice version is identified by the SHA-256 of its content.
CREATE TABLE notices (
    workspace_id  UUID NOT NULL REFERENCES workspaces(id),
    hash          TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('privacy_notice','supplier_privacy_notice','consent_text','objection_notice')),
    language      TEXT NOT NULL CHECK (language IN ('de','en')),
    title         TEXT NOT NULL,
    body          TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    created_by    TEXT NOT NULL,
    PRIMARY KEY (workspace_id, hash)
);
CREATE INDEX notices_hash ON notices (hash);

-- The exact texts shown at consent capture, stored once per workspace and
-- referenced from ledger evidence by their SHA-256.
CREATE TABLE evidence_texts (
    workspace_id  UUID NOT NULL REFERENCES workspaces(id),
    hash          TEXT NOT NULL,
    body          TEXT NOT NULL,
    PRIMARY KEY (workspace_id, hash)
);

-- Append-only: fairlead never updates or deletes these rows.
CREATE TABLE ledger_events (
    id               UUID PRIMARY KEY,
    workspace_id     UUID NOT NULL REFERENCES workspaces(id),
    contact_id       UUID NOT NULL REFERENCES contacts(id),
    seq              BIGINT NOT NULL,
    kind             TEXT NOT NULL,
    purpose          TEXT NOT NULL,
    channels         TEXT NOT NULL,
    lawful_basis     TEXT NOT NULL,
    contact_point    TEXT NOT NULL,
    details          TEXT NOT NULL,
    evidence         TEXT NOT NULL,
    sealed_evidence  BYTEA,
    occurred_at      TIMESTAMPTZ NOT NULL,
    recorded_at      TIMESTAMPTZ NOT NULL,
    hash             BYTEA NOT NULL,
    UNIQUE (workspace_id, seq)
);
CREATE INDEX ledger_events_contact ON ledger_events (workspace_id, contact_id, seq);

-- One row per workspace: the last seq and hash. Appends lock it, which
-- serialises them per workspace and lets verify notice a missing tail.
CREATE TABLE ledger_heads (
    workspace_id  UUID PRIMARY KEY REFERENCES workspaces(id),
    seq           BIGINT NOT NULL,
    hash          BYTEA NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);
