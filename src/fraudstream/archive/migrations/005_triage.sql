-- Analysts' verdicts on alerts. No foreign key: a verdict may be recorded for an
-- alert whose archive row is still in flight.
CREATE TABLE IF NOT EXISTS alert_triage (
    alert_id   TEXT PRIMARY KEY,
    verdict    TEXT NOT NULL CHECK (verdict IN ('confirmed_fraud', 'false_positive')),
    analyst    TEXT,
    note       TEXT,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
