-- contacts_workspace (workspace_id, id) is a prefix of contacts_lead_attrs
-- (workspace_id, id, audience, relationship, data_source): every query
-- that ranged over it reads the same range from the wider index, and each
-- contact written (an import writes hundreds of thousands) keeps one index
-- entry less.
DROP INDEX contacts_workspace;

-- Only contacts with a phone number need an entry in contacts_phone: a
-- lookup by phone_index = ? implies it is not NULL, so the partial index
-- serves it, and a contact without a number (most imported ones) writes
-- no entry.
DROP INDEX contacts_phone;
CREATE INDEX contacts_phone ON contacts (workspace_id, phone_index) WHERE phone_index IS NOT NULL;
