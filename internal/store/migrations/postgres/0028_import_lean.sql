-- contacts_workspace (workspace_id, id) is a prefix of contacts_lead_attrs
-- (workspace_id, id, audience, relationship, data_source): every query
-- that ranged over it reads the same range from the wider index, and each
-- contact written (an import writes hundreds of thousands) keeps one index
-- entry less.
DROP INDEX contacts_workspace;
