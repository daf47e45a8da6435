-- Only queued messages are looked for by due time. With the status in
-- the key, claiming a message (queued -> sending) and settling it
-- (sending -> sent) each moved its entry in this index: two deletions and
-- two insertions per message sent. Holding the queued rows only, the
-- claim removes the entry and settling touches the index no more. The few
-- statements about messages being sent (the stale ones, whether any is
-- still open) run once per pass and read the campaign's rows by primary
-- key.
DROP INDEX campaign_messages_due;
CREATE INDEX campaign_messages_due ON campaign_messages (workspace_id, campaign_id, due_at, step, contact_id) WHERE status = 'queued';
