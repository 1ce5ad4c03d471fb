-- An outbox row that failed to publish waits before its next try (doubling, up to a minute),
-- so rows that keep failing do not take every relay batch from the rows behind them.
ALTER TABLE outbox ADD COLUMN next_attempt_at timestamptz;
