-- Alerts, idempotent on the deterministic alert id (md5(rule_id:transaction_id)).
CREATE TABLE IF NOT EXISTS alerts (
    alert_id        TEXT PRIMARY KEY,
    rule_id         TEXT NOT NULL,
    rule_type       TEXT NOT NULL,
    severity        TEXT NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    score           DOUBLE PRECISION NOT NULL,
    reason          TEXT NOT NULL,
    transaction_id  TEXT NOT NULL,
    card_masked     TEXT NOT NULL,
    card_token      TEXT NOT NULL,
    bank_id         TEXT NOT NULL,
    user_id         BIGINT NOT NULL,
    amount          NUMERIC(14, 2) NOT NULL,
    currency        CHAR(3) NOT NULL,
    merchant        TEXT NOT NULL,
    country         CHAR(2) NOT NULL,
    payment_system  TEXT NOT NULL,
    event_time      TIMESTAMPTZ NOT NULL,
    detected_at     TIMESTAMPTZ NOT NULL,
    evidence        TEXT,
    archived_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS alerts_detected_idx ON alerts (detected_at DESC);
CREATE INDEX IF NOT EXISTS alerts_rule_idx ON alerts (rule_id, detected_at DESC);
CREATE INDEX IF NOT EXISTS alerts_bank_idx ON alerts (bank_id, detected_at DESC);
CREATE INDEX IF NOT EXISTS alerts_card_idx ON alerts (card_token, detected_at DESC);
CREATE INDEX IF NOT EXISTS alerts_user_idx ON alerts (user_id, detected_at DESC);
CREATE INDEX IF NOT EXISTS alerts_transaction_idx ON alerts (transaction_id);
