-- E-mail campaigns (nurture sequences): the campaign, its steps, one row
-- per (campaign, step, contact) claimed before the message is sent — the
-- idempotency key that keeps an outage or a restart from sending twice —
-- and the bounce state of each contact. No personal data in clear: contacts
-- appear by ID, messages by their Message-ID.

CREATE TABLE campaigns (
    id               TEXT NOT NULL,
    workspace_id     TEXT NOT NULL REFERENCES workspaces(id),
    name             TEXT NOT NULL,
    purpose          TEXT NOT NULL,
    channel          TEXT NOT NULL CHECK (channel IN ('email')),
    segment_id       TEXT NOT NULL DEFAULT '',
    lang             TEXT NOT NULL,
    privacy_hash     TEXT NOT NULL DEFAULT '',
    rate_per_second  INTEGER NOT NULL,
    convert_type     TEXT NOT NULL DEFAULT '',
    convert_name     TEXT NOT NULL DEFAULT '',
    status           TEXT NOT NULL CHECK (status IN ('draft','scheduled','running','paused','completed')),
    paused_reason    TEXT NOT NULL DEFAULT '',
    starts_at        TIMESTAMP,
    created_at       TIMESTAMP NOT NULL,
    updated_at       TIMESTAMP NOT NULL,
    PRIMARY KEY (workspace_id, id)
);

CREATE TABLE campaign_steps (
    workspace_id   TEXT NOT NULL REFERENCES workspaces(id),
    campaign_id    TEXT NOT NULL,
    step           INTEGER NOT NULL,
    delay_seconds  INTEGER NOT NULL,
    condition      TEXT NOT NULL,
    subject        TEXT NOT NULL,
    text_body      TEXT NOT NULL,
    html_body      TEXT NOT NULL,
    PRIMARY KEY (workspace_id, campaign_id, step)
);

CREATE TABLE campaign_messages (
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
    campaign_id   TEXT NOT NULL,
    step          INTEGER NOT NULL,
    contact_id    TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('queued','sending','sent','skipped','failed','unknown')),
    reason        TEXT NOT NULL DEFAULT '',
    due_at        TIMESTAMP NOT NULL,
    message_id    TEXT,
    tracked       BOOLEAN NOT NULL DEFAULT FALSE,
    sent_at       TIMESTAMP,
    delivered_at  TIMESTAMP,
    bounce        TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (workspace_id, campaign_id, step, contact_id)
);
CREATE INDEX campaign_messages_due ON campaign_messages (workspace_id, campaign_id, status, due_at);
CREATE UNIQUE INDEX campaign_messages_message_id ON campaign_messages (workspace_id, message_id);

CREATE TABLE campaign_bounces (
    workspace_id   TEXT NOT NULL REFERENCES workspaces(id),
    contact_id     TEXT NOT NULL,
    soft           INTEGER NOT NULL DEFAULT 0,
    hard_at        TIMESTAMP,
    complained_at  TIMESTAMP,
    updated_at     TIMESTAMP NOT NULL,
    PRIMARY KEY (workspace_id, contact_id)
);
