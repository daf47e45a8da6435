-- The audit trail (Eingabekontrolle, Weitergabekontrolle): who created,
-- changed, deleted or exported what, when, through which request. It holds
-- IDs and field names, never personal values, and is append-only.
CREATE TABLE audit_events (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
    at            TIMESTAMP NOT NULL,
    actor_type    TEXT NOT NULL CHECK (actor_type IN ('user','token','system','cli')),
    actor_id      TEXT NOT NULL,
    request_id    TEXT NOT NULL,
    action        TEXT NOT NULL,
    route         TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    fields        TEXT NOT NULL,
    status        INTEGER NOT NULL
);
CREATE INDEX audit_events_at ON audit_events (workspace_id, at, id);
CREATE INDEX audit_events_resource ON audit_events (workspace_id, resource_id);
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
