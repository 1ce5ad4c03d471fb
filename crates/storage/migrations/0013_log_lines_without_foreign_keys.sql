-- Task-log lines keep no foreign keys (issue #11): each checked its deployment and its step
-- run again for every line inserted (about ten checks for a one-step deployment), while every
-- writer already holds the deployment's row lock and has read the step run it writes for
-- (`step_log.rs`, `step_result.rs`, `persist.rs`, `relay.rs`, `unreadable.rs`), and neither
-- deployments nor step runs are ever deleted.
ALTER TABLE log_lines
    DROP CONSTRAINT IF EXISTS log_lines_deployment_id_fkey,
    DROP CONSTRAINT IF EXISTS log_lines_step_run_id_fkey;
