-- lead_state.score_ref_at and lead_transitions.at as integers: the
-- microseconds since 1970-01-01 UTC instead of the driver's 32-character
-- text ("2026-12-02 04:30:00.123456+00:00"). A full recompute writes every
-- state row and, the first time, a stage move for most contacts, and the
-- time is in each of them (in the moves' key, too); an 8-byte integer makes
-- a row 24 bytes smaller and is bound without copying a text. The columns
-- keep their TIMESTAMP declaration; the lead code reads both forms.
UPDATE lead_state SET score_ref_at = COALESCE(
    unixepoch(substr(score_ref_at, 1, 19) || substr(score_ref_at, -6)) * 1000000 +
        (CASE WHEN substr(score_ref_at, 20, 1) = '.'
            THEN CAST(substr(substr(score_ref_at, 21, length(score_ref_at) - 26) || '000000', 1, 6) AS INTEGER)
            ELSE 0 END),
    unixepoch(score_ref_at) * 1000000)
WHERE typeof(score_ref_at) = 'text';

UPDATE lead_transitions SET at = COALESCE(
    unixepoch(substr(at, 1, 19) || substr(at, -6)) * 1000000 +
        (CASE WHEN substr(at, 20, 1) = '.'
            THEN CAST(substr(substr(at, 21, length(at) - 26) || '000000', 1, 6) AS INTEGER)
            ELSE 0 END),
    unixepoch(at) * 1000000)
WHERE typeof(at) = 'text';
