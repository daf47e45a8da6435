-- SQLite stores lead_state.score_ref_at and lead_transitions.at as
-- microseconds from this migration on; PostgreSQL's timestamptz is already
-- eight bytes, so nothing changes here.
SELECT 1;
