-- The start handshake and leases (ARCHITECTURE.md, "Jobs, claims and leases"): the worker
-- that claimed the current attempt of a step run, and when it last said it was alive.
ALTER TABLE step_runs ADD COLUMN claimed_by text;
ALTER TABLE step_runs ADD COLUMN heartbeat_at timestamptz;
-- The sweeper looks for running attempts nobody took or nobody keeps alive.
CREATE INDEX step_runs_running ON step_runs (dispatched_at) WHERE status = 'Running';
