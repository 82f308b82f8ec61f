-- Records that failed validation (also on the dead-letter topic), with the reason.
-- Keyed by their position in the source topic, so a replay does not duplicate them.
CREATE TABLE IF NOT EXISTS rejected_records (
    source_topic     TEXT NOT NULL,
    source_partition INTEGER NOT NULL,
    source_offset    BIGINT NOT NULL,
    reason           TEXT NOT NULL,
    detail           TEXT,
    raw_payload      TEXT,
    received_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (source_topic, source_partition, source_offset)
);

CREATE INDEX IF NOT EXISTS rejected_reason_idx ON rejected_records (reason, received_at DESC);
