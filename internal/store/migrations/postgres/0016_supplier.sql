-- Backflow acquisition: suppliers (organizations we buy from) with their
-- contact persons, the first inquiries that linked the supplier privacy
-- notice, concluded contracts, versioned letter templates with their
-- schedules, letter batches (the PDF and the manifest as printed, and who
-- was left out and why) and the responses of supplier contacts. Contact
-- persons are contacts: their personal data stay sealed in contacts, these
-- tables refer to them by ID only. Supplier names are company names.

CREATE TABLE suppliers (
    id            UUID PRIMARY KEY,
    workspace_id  UUID NOT NULL REFERENCES workspaces(id),
    name          TEXT NOT NULL,
    language      TEXT NOT NULL CHECK (language IN ('de','en')),
    dream_client  BOOLEAN NOT NULL DEFAULT FALSE,
    notes         TEXT NOT NULL DEFAULT '',
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX suppliers_workspace ON suppliers (workspace_id, id);

CREATE TABLE supplier_contacts (
    workspace_id  UUID NOT NULL REFERENCES workspaces(id),
    supplier_id   UUID NOT NULL REFERENCES suppliers(id),
    contact_id    UUID NOT NULL,
    position      TEXT NOT NULL DEFAULT '',
    created_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workspace_id, supplier_id, contact_id)
);
CREATE INDEX supplier_contacts_contact ON supplier_contacts (workspace_id, contact_id);

CREATE TABLE supplier_inquiries (
    id            UUID PRIMARY KEY,
    workspace_id  UUID NOT NULL REFERENCES workspaces(id),
    supplier_id   UUID NOT NULL REFERENCES suppliers(id),
    contact_id    UUID NOT NULL,
    notice_hash   TEXT NOT NULL,
    language      TEXT NOT NULL,
    channel       TEXT NOT NULL CHECK (channel IN ('email','web_form','post')),
    subject       TEXT NOT NULL,
    body          TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    sent_at       TIMESTAMPTZ,
    ledger_event  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX supplier_inquiries_supplier ON supplier_inquiries (workspace_id, supplier_id, created_at);

CREATE TABLE supplier_contracts (
    id            UUID PRIMARY KEY,
    workspace_id  UUID NOT NULL REFERENCES workspaces(id),
    supplier_id   UUID NOT NULL REFERENCES suppliers(id),
    concluded_at  TIMESTAMPTZ NOT NULL,
    reference     TEXT NOT NULL DEFAULT '',
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX supplier_contracts_supplier ON supplier_contracts (workspace_id, supplier_id, concluded_at);

CREATE TABLE letter_templates (
    id            UUID PRIMARY KEY,
    workspace_id  UUID NOT NULL REFERENCES workspaces(id),
    name          TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    UNIQUE (workspace_id, name)
);

-- Each saved version is immutable; its hash commits to the whole content.
CREATE TABLE letter_template_versions (
    workspace_id  UUID NOT NULL REFERENCES workspaces(id),
    template_id   UUID NOT NULL REFERENCES letter_templates(id),
    version       INTEGER NOT NULL,
    hash          TEXT NOT NULL,
    content       TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    created_by    TEXT NOT NULL,
    PRIMARY KEY (workspace_id, template_id, version),
    UNIQUE (workspace_id, hash)
);

CREATE TABLE letter_schedules (
    id            UUID PRIMARY KEY,
    workspace_id  UUID NOT NULL REFERENCES workspaces(id),
    template_id   UUID NOT NULL REFERENCES letter_templates(id),
    purpose       TEXT NOT NULL,
    delay_days    INTEGER NOT NULL CHECK (delay_days BETWEEN 0 AND 365),
    enabled       BOOLEAN NOT NULL DEFAULT TRUE,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    UNIQUE (workspace_id, template_id)
);

CREATE TABLE letter_batches (
    id               UUID PRIMARY KEY,
    workspace_id     UUID NOT NULL REFERENCES workspaces(id),
    template_id      UUID NOT NULL REFERENCES letter_templates(id),
    template_hash    TEXT NOT NULL,
    purpose          TEXT NOT NULL,
    channel          TEXT NOT NULL CHECK (channel IN ('post')),
    supplier_id      UUID,
    schedule_id      UUID,
    contract_id      UUID,
    letters          INTEGER NOT NULL,
    left_out         INTEGER NOT NULL,
    pdf              BYTEA,
    manifest         TEXT NOT NULL DEFAULT '',
    created_at       TIMESTAMPTZ NOT NULL,
    created_by       TEXT NOT NULL
);
CREATE INDEX letter_batches_workspace ON letter_batches (workspace_id, created_at);

-- One row per contact considered: a letter with its ledger event, or left
-- out with the engine's (or the address check's) reason codes.
CREATE TABLE letter_batch_items (
    workspace_id  UUID NOT NULL REFERENCES workspaces(id),
    batch_id      UUID NOT NULL REFERENCES letter_batches(id),
    contact_id    UUID NOT NULL,
    included      BOOLEAN NOT NULL,
    ref           TEXT NOT NULL DEFAULT '',
    first_page    INTEGER NOT NULL DEFAULT 0,
    pages         INTEGER NOT NULL DEFAULT 0,
    reasons       TEXT NOT NULL DEFAULT '[]',
    ledger_event  TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (workspace_id, batch_id, contact_id)
);
CREATE INDEX letter_batch_items_contact ON letter_batch_items (workspace_id, contact_id);

-- summary is written by the user and must not repeat personal data.
CREATE TABLE contact_responses (
    id            UUID PRIMARY KEY,
    workspace_id  UUID NOT NULL REFERENCES workspaces(id),
    contact_id    UUID NOT NULL,
    supplier_id   UUID,
    channel       TEXT NOT NULL CHECK (channel IN ('phone','email','post')),
    reply_channels TEXT NOT NULL,
    summary       TEXT NOT NULL DEFAULT '',
    received_at   TIMESTAMPTZ NOT NULL,
    ledger_event  TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX contact_responses_contact ON contact_responses (workspace_id, contact_id, received_at);
CREATE INDEX contact_responses_supplier ON contact_responses (workspace_id, supplier_id, received_at);
