-- The tables every sign-up writes keep no foreign key to workspaces on
-- PostgreSQL. Workspaces are never deleted, and each of these rows is
-- written with the workspace its request was resolved to (a form, a
-- token, a signed link), inside the queries that every read scopes by
-- workspace. The key cost each inserted row a trigger that looked the
-- workspace up and locked its row FOR KEY SHARE — six per sign-up, in the
-- part of the group commit that every sign-up waits for, and one row that
-- every writer of a workspace locks, which turns into multixacts as soon
-- as several transactions write at once (docs/benchmarks.md, "Six
-- foreign-key checks fewer"). The key from ledger events to their
-- contact stays: it guards the subject of the chain. SQLite keeps its
-- keys: there the check is one lookup in the same process and locks
-- nothing.
ALTER TABLE contacts DROP CONSTRAINT IF EXISTS contacts_workspace_id_fkey;
ALTER TABLE contact_keys DROP CONSTRAINT IF EXISTS contact_keys_workspace_id_fkey;
ALTER TABLE contact_values DROP CONSTRAINT IF EXISTS contact_values_workspace_id_fkey;
ALTER TABLE doi_requests DROP CONSTRAINT IF EXISTS doi_requests_workspace_id_fkey;
ALTER TABLE jobs DROP CONSTRAINT IF EXISTS jobs_workspace_id_fkey;
ALTER TABLE ledger_events DROP CONSTRAINT IF EXISTS ledger_events_workspace_id_fkey;
