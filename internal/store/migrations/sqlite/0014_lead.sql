-- Lead management: scoring rule sets (each version immutable), the narrow
-- per-contact lead state that segment counts scan, every score
-- contribution (so a score explains itself), lifecycle transitions, saved
-- segments, sensitive-data flags and personalization feedback.
CREATE TABLE lead_rule_sets (
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
    version       INTEGER NOT NULL,
    rules         TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    PRIMARY KEY (workspace_id, version)
);

-- score = fit + engagement at score_ref_at (for people reading rows);
-- eng_log is the engagement in the log domain, ln(value) + ln2 * age of
-- score_ref_at since 2000-01-01 in half-lives, so the score at any time t is
-- fit + exp(eng_log - ln2 * days(t) / half_life) without date functions.
CREATE TABLE lead_state (
    workspace_id   TEXT NOT NULL REFERENCES workspaces(id),
    contact_id     TEXT NOT NULL,
    stage          TEXT NOT NULL CHECK (stage IN ('visitor','lead','marketing_qualified','sales_qualified','customer','disqualified')),
    score          REAL NOT NULL,
    score_ref_at   TIMESTAMP NOT NULL,
    fit            REAL NOT NULL,
    eng_log        REAL,
    rule_version   INTEGER NOT NULL,
    owner          TEXT,
    handed_off_at  TIMESTAMP,
    PRIMARY KEY (workspace_id, contact_id)
);
CREATE INDEX lead_state_stage ON lead_state (workspace_id, stage, contact_id);
CREATE INDEX lead_state_handoff ON lead_state (workspace_id, handed_off_at) WHERE handed_off_at IS NOT NULL;

CREATE TABLE lead_contributions (
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
    contact_id    TEXT NOT NULL,
    rule_id       TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('fit','engagement')),
    event_id      TEXT NOT NULL,
    event_type    TEXT NOT NULL,
    event_name    TEXT NOT NULL,
    points        REAL NOT NULL,
    capped        BOOLEAN NOT NULL,
    occurred_at   TIMESTAMP NOT NULL,
    rule_version  INTEGER NOT NULL
);
CREATE INDEX lead_contributions_contact ON lead_contributions (workspace_id, contact_id, occurred_at);

CREATE TABLE lead_transitions (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
    contact_id    TEXT NOT NULL,
    from_stage    TEXT NOT NULL,
    to_stage      TEXT NOT NULL,
    at            TIMESTAMP NOT NULL,
    cause         TEXT NOT NULL,
    actor         TEXT NOT NULL,
    reason        TEXT NOT NULL
);
CREATE INDEX lead_transitions_contact ON lead_transitions (workspace_id, contact_id, at);
CREATE INDEX lead_transitions_at ON lead_transitions (workspace_id, at);

-- Round-robin position of the hand-off per workspace.
CREATE TABLE lead_assign_cursor (
    workspace_id  TEXT PRIMARY KEY REFERENCES workspaces(id),
    last_user_id  TEXT NOT NULL
);

CREATE TABLE lead_segments (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
    name          TEXT NOT NULL,
    filter        TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL
);
CREATE INDEX lead_segments_workspace ON lead_segments (workspace_id, name);

-- Attributes and event types flagged as special category (Art. 9 GDPR) or
-- sensitive topic: used only for people who gave explicit consent.
CREATE TABLE lead_sensitive (
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
    kind          TEXT NOT NULL CHECK (kind IN ('attribute','event_type')),
    name          TEXT NOT NULL,
    category      TEXT NOT NULL CHECK (category IN ('special_category','sensitive_topic')),
    created_at    TIMESTAMP NOT NULL,
    PRIMARY KEY (workspace_id, kind, name)
);

CREATE TABLE lead_feedback (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
    contact_id    TEXT NOT NULL,
    ref           TEXT NOT NULL,
    rating        INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
    comment       TEXT NOT NULL,
    created_at    TIMESTAMP NOT NULL
);
CREATE INDEX lead_feedback_contact ON lead_feedback (workspace_id, contact_id);
