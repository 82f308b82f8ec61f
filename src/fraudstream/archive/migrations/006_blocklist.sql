-- Block lists read by the detection job through a lookup join with a short
-- cache: an insert here takes effect without restarting the job.
CREATE TABLE IF NOT EXISTS blocklist (
    kind     TEXT NOT NULL CHECK (kind IN ('merchant', 'country', 'card_token')),
    value    TEXT NOT NULL,
    reason   TEXT NOT NULL DEFAULT '',
    added_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, value)
);
