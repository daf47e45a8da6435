-- The keys fairlead derives from the master key (blind index, link MAC,
-- workspace secrets), stored wrapped under the master key. They are derived
-- once and then kept: the blind index is part of the hash-chained ledger,
-- so these values must survive a change of the master key. One set per
-- installation, like schema_migrations, so no workspace_id.
CREATE TABLE keyring_keys (
    name        TEXT PRIMARY KEY,
    wrapped     BLOB NOT NULL,
    key_id      TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);

-- Which master key wrapped a contact key, so a rotation can find what is
-- left to rewrap. NULL: written before key IDs were recorded.
ALTER TABLE contact_keys ADD COLUMN key_id TEXT;
