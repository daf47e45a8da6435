-- The admin dashboard's figures per workspace: counts over weeks of
-- contacts and ledger events and the lifecycle funnel, recomputed in the
-- background every minute (and at start-up) so no page view counts over a
-- million rows. One row per workspace, replaced on every refresh; figures
-- is JSON holding counts only, never personal data.
CREATE TABLE admin_dashboard (
    workspace_id   TEXT PRIMARY KEY REFERENCES workspaces(id),
    figures        TEXT NOT NULL,
    computed_at    TIMESTAMP NOT NULL
);
