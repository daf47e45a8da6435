-- A contact's score contributions packed into its lead_state row, one
-- line per contribution (the format is described in internal/lead/pack.go):
-- a recompute writes one row per contact instead of about five with their
-- index entries, and compares one text to skip an unchanged contact. The
-- stored rows are carried over; fit entries take their time from
-- score_ref_at, engagement entries keep the stored timestamp text.
-- The table is rebuilt WITHOUT ROWID: its key is (workspace_id,
-- contact_id), so a write updates one B-tree for the row instead of the
-- table and its primary key index, and the other indexes carry the contact
-- ID (a segment count reads it from the index).
CREATE TABLE lead_state_packed (
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
    contributions  TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (workspace_id, contact_id)
) WITHOUT ROWID;

INSERT INTO lead_state_packed (workspace_id, contact_id, stage, score, score_ref_at, fit, eng_log, rule_version, owner, handed_off_at, contributions)
SELECT s.workspace_id, s.contact_id, s.stage, s.score, s.score_ref_at, s.fit, s.eng_log, s.rule_version, s.owner, s.handed_off_at,
    COALESCE((
    SELECT group_concat(
        (CASE c.kind WHEN 'fit' THEN 'f' ELSE 'e' END) || char(9) ||
        replace(replace(replace(c.rule_id, '\', '\\'), char(9), '\t'), char(10), '\n') || char(9) ||
        (CASE c.kind WHEN 'fit' THEN '' ELSE
            replace(replace(replace(c.event_id, '\', '\\'), char(9), '\t'), char(10), '\n') || char(9) ||
            replace(replace(replace(c.event_type, '\', '\\'), char(9), '\t'), char(10), '\n') || char(9) ||
            replace(replace(replace(c.event_name, '\', '\\'), char(9), '\t'), char(10), '\n') END) ||
        (CASE c.kind WHEN 'fit' THEN char(9) || char(9) || char(9) ELSE char(9) END) ||
        CAST(c.points AS TEXT) || char(9) ||
        (CASE WHEN c.capped THEN '1' ELSE '0' END) || char(9) ||
        (CASE c.kind WHEN 'fit' THEN '' ELSE CAST(c.occurred_at AS TEXT) END) || char(9) ||
        CAST(c.rule_version AS TEXT),
        char(10) ORDER BY (CASE c.kind WHEN 'fit' THEN 0 ELSE 1 END), c.occurred_at, c.rule_id, c.event_id)
    FROM lead_contributions c
    WHERE c.workspace_id = s.workspace_id AND c.contact_id = s.contact_id), '')
FROM lead_state s;

DROP TABLE lead_state;
ALTER TABLE lead_state_packed RENAME TO lead_state;
CREATE INDEX lead_state_stage ON lead_state (workspace_id, stage, contact_id);
CREATE INDEX lead_state_handoff ON lead_state (workspace_id, handed_off_at) WHERE handed_off_at IS NOT NULL;
CREATE INDEX lead_state_score ON lead_state (workspace_id, fit, eng_log);

DROP TABLE lead_contributions;
