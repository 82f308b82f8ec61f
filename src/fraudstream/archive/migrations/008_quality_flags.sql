-- Records that can be processed but look suspicious are archived with a flag
-- (records.QUALITY_FLAGS: luhn, network_mismatch, unknown_payment_system),
-- comma-separated; empty when the record is clean.
ALTER TABLE transactions ADD COLUMN IF NOT EXISTS quality_flags TEXT NOT NULL DEFAULT '';
