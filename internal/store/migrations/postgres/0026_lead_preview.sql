-- SQLite reads attribute leaves of a segment count as ranges of
-- (workspace_id, audience, relationship, data_source, id); PostgreSQL
-- counts a segment with one query and joins by hash, so it needs no such
-- index. The number is kept in step with the SQLite folder.
SELECT 1;
