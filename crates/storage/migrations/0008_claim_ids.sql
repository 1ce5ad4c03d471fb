-- The claim that won each running attempt: only a re-sent copy of that claim is granted
-- again. A worker's name is not enough, since two processes may share one.
ALTER TABLE step_runs ADD COLUMN claim_id uuid;
