-- The worker pool the current attempt's job was sent to: events about the attempt are taken
-- only from that pool's workers (ARCHITECTURE.md, "Threat model", worker pools).
ALTER TABLE step_runs ADD COLUMN dispatched_pool text;
