-- One alert per episode: later hits of the same rule on the same card update
-- the alert (same alert_id) with the hit count and the latest transaction.
ALTER TABLE alerts ADD COLUMN IF NOT EXISTS hits INTEGER NOT NULL DEFAULT 1;
ALTER TABLE alerts ADD COLUMN IF NOT EXISTS last_transaction_id TEXT;
