-- The development outbox: where e-mail and SMS go when no SMTP server or
-- SMS gateway is configured, so a local installation can walk the double
-- opt-in. recipient, subject and body are sealed with the contact's data
-- key: erasing the contact (shredding the key) makes these copies
-- unreadable too. body is the raw RFC 5322 message for e-mail, the text
-- for SMS.
CREATE TABLE outbox_messages (
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
    id            TEXT NOT NULL PRIMARY KEY,
    channel       TEXT NOT NULL CHECK (channel IN ('email','sms')),
    contact_id    TEXT,
    recipient     BLOB NOT NULL,
    subject       BLOB NOT NULL,
    body          BLOB NOT NULL,
    created_at    TIMESTAMP NOT NULL
);
CREATE INDEX outbox_messages_created ON outbox_messages (workspace_id, created_at);
