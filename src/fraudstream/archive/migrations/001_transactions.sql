-- Every valid transaction, exactly once (upsert on transaction_id).
-- The full card number is never stored: masked form + keyed-hash token.
CREATE TABLE IF NOT EXISTS transactions (
    transaction_id    TEXT PRIMARY KEY,
    bank_id           TEXT NOT NULL,
    payment_system    TEXT NOT NULL,
    card_masked       TEXT NOT NULL,
    card_token        TEXT NOT NULL,
    user_id           BIGINT NOT NULL,
    amount            NUMERIC(14, 2) NOT NULL CHECK (amount > 0),
    currency          CHAR(3) NOT NULL,
    merchant          TEXT NOT NULL,
    country           CHAR(2) NOT NULL,
    event_time        TIMESTAMPTZ NOT NULL,
    merchant_category TEXT,
    channel           TEXT,
    ingested_at       TIMESTAMPTZ,
    archived_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS transactions_event_time_idx ON transactions (event_time DESC);
CREATE INDEX IF NOT EXISTS transactions_card_idx ON transactions (card_token, event_time DESC);
CREATE INDEX IF NOT EXISTS transactions_user_idx ON transactions (user_id, event_time DESC);
CREATE INDEX IF NOT EXISTS transactions_bank_idx ON transactions (bank_id, event_time DESC);
