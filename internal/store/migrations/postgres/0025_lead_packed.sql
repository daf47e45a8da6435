-- A contact's score contributions packed into its lead_state row, one
-- line per contribution (the format is described in internal/lead/pack.go):
-- a recompute writes one row per contact instead of about five with their
-- index entries, and compares one text to skip an unchanged contact. The
-- stored rows are carried over; fit entries take their time from
-- score_ref_at, engagement entries their time in Unix microseconds.
ALTER TABLE lead_state ADD COLUMN contributions TEXT NOT NULL DEFAULT '';

UPDATE lead_state SET contributions = COALESCE((
    SELECT string_agg(
        (CASE c.kind WHEN 'fit' THEN 'f' ELSE 'e' END) || chr(9) ||
        replace(replace(replace(c.rule_id, '\', '\\'), chr(9), '\t'), chr(10), '\n') || chr(9) ||
        (CASE c.kind WHEN 'fit' THEN '' ELSE
            replace(replace(replace(c.event_id, '\', '\\'), chr(9), '\t'), chr(10), '\n') || chr(9) ||
            replace(replace(replace(c.event_type, '\', '\\'), chr(9), '\t'), chr(10), '\n') || chr(9) ||
            replace(replace(replace(c.event_name, '\', '\\'), chr(9), '\t'), chr(10), '\n') END) ||
        (CASE c.kind WHEN 'fit' THEN chr(9) || chr(9) || chr(9) ELSE chr(9) END) ||
        c.points::text || chr(9) ||
        (CASE WHEN c.capped THEN '1' ELSE '0' END) || chr(9) ||
        (CASE c.kind WHEN 'fit' THEN '' ELSE (extract(epoch FROM c.occurred_at) * 1000000)::bigint::text END) || chr(9) ||
        c.rule_version::text,
        chr(10) ORDER BY (CASE c.kind WHEN 'fit' THEN 0 ELSE 1 END), c.occurred_at, c.rule_id, c.event_id)
    FROM lead_contributions c
    WHERE c.workspace_id = lead_state.workspace_id AND c.contact_id = lead_state.contact_id), '');

DROP TABLE lead_contributions;
