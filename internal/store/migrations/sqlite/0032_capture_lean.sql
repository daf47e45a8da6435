-- Nothing changes on SQLite (see the PostgreSQL migration of the same
-- number): its foreign-key checks are lookups in the same process that
-- lock nothing, and dropping one would mean rebuilding the table.
SELECT 1;
