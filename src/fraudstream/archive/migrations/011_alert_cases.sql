-- Cases: the detection engine groups the alerts of one card (or user, or
-- merchant) that follow each other within the catalogue's case cool-down into
-- one case, named by the alert that opened it (records.Alert.case_id). Alerts
-- archived before cases existed have none: each is then its own case.
ALTER TABLE alerts ADD COLUMN IF NOT EXISTS case_id TEXT;
CREATE INDEX IF NOT EXISTS alerts_case_idx ON alerts (case_id);
