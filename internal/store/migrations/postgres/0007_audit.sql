-- The audit trail (Eingabekontrolle, Weitergabekontrolle): who created,
-- changed, deleted or exported what, when, through which request. It holds
-- IDs and field names, never personal values, and is append-only.
CREATE TABLE audit_events (
    id            UUID PRIMARY KEY,
    workspace_id  UUID NOT NULL REFERENCES workspaces(id),
    at            TIMESTAMPTZ NOT NULL,
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
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION fairlead_append_only();
