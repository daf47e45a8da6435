-- Placeholder for 0007_webhooks, which is merged from another branch.
SELECT 1;
