-- Ground truth from the simulator: which transactions belong to which injected
-- fraud scenario. Never part of the transactions topic; used for evaluation only.
CREATE TABLE IF NOT EXISTS fraud_labels (
    transaction_id TEXT PRIMARY KEY,
    scenario_id    TEXT NOT NULL,
    scenario       TEXT NOT NULL,
    step           INTEGER NOT NULL,
    is_trigger     BOOLEAN NOT NULL DEFAULT FALSE,
    bank_id        TEXT,
    labelled_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS fraud_labels_scenario_idx ON fraud_labels (scenario, scenario_id);
