-- Identified tracking events: what a contact who consented to tracking did
-- (page views, downloads, form submissions, e-mail opens and clicks). Only
-- the tracking service writes here, and only after the engine allowed it;
-- anonymous counts and pseudonymous events live in their own tables. props
-- hold no personal data (paths without query strings, asset names).
CREATE TABLE track_events (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
    contact_id    TEXT NOT NULL,
    type          TEXT NOT NULL CHECK (type IN ('page_view','download','form_submit','email_open','email_click','custom')),
    name          TEXT NOT NULL,
    ref           TEXT NOT NULL,
    props         TEXT NOT NULL,
    occurred_at   TIMESTAMP NOT NULL
);
CREATE INDEX track_events_contact ON track_events (workspace_id, contact_id, occurred_at);
CREATE INDEX track_events_ref ON track_events (workspace_id, ref) WHERE ref <> '';
