-- The use of a consent (rules §9 log_consent_usage, GDPR Art. 7(1), UWG
-- §7a(2)): when a message was last sent relying on a valid consent, per
-- contact, business purpose and channel. One row per key, written once
-- per sent chunk; the ledger stays the record of the consent itself.
CREATE TABLE consent_uses (
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
    contact_id    TEXT NOT NULL,
    purpose       TEXT NOT NULL,
    channel       TEXT NOT NULL,
    last_used_at  TIMESTAMP NOT NULL,
    -- What used it last, e.g. campaign:<id>:<step>.
    source        TEXT NOT NULL,
    PRIMARY KEY (workspace_id, contact_id, purpose, channel)
);

-- What the sender declares about a campaign's messages for the
-- existing-customer exemption (UWG §7(3) Nr. 2 and Nr. 4).
ALTER TABLE campaigns ADD COLUMN own_similar_offer BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE campaigns ADD COLUMN notice_in_message BOOLEAN NOT NULL DEFAULT FALSE;

-- The due messages are read in (due_at, step, contact_id) order; with
-- the whole key in the index a batch is read in index order instead of
-- sorting every queued row of the campaign (all share one due_at after
-- Schedule) for each batch.
DROP INDEX campaign_messages_due;
CREATE INDEX campaign_messages_due ON campaign_messages (workspace_id, campaign_id, status, due_at, step, contact_id);
