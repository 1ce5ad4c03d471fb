-- A step on targets runs once per target: each run is a row of step_runs of its own (its own
-- attempts, claim, lease and pool), beside the step's row (target_position NULL), so claims,
-- heartbeats, the sweeper, the pool check and log lines work the same for both.
ALTER TABLE step_runs ADD COLUMN target_position integer;
ALTER TABLE step_runs ADD COLUMN target_id uuid;
ALTER TABLE step_runs ADD COLUMN target_name text;
ALTER TABLE step_runs ADD CHECK ((target_position IS NULL) = (target_id IS NULL)
    AND (target_id IS NULL) = (target_name IS NULL));
ALTER TABLE step_runs DROP CONSTRAINT step_runs_deployment_id_step_index_key;
CREATE UNIQUE INDEX step_runs_position
    ON step_runs (deployment_id, step_index, coalesce(target_position, -1));

-- Where a target keeps applications and how its NGINX is configured (defaults apply when
-- NULL: `.ferry/Applications` in the login's home, `/etc/nginx/conf.d`, `nginx -t`,
-- `nginx -s reload`).
ALTER TABLE targets ADD COLUMN applications_root text;
ALTER TABLE targets ADD COLUMN nginx_config_folder text;
ALTER TABLE targets ADD COLUMN nginx_validate_command text;
ALTER TABLE targets ADD COLUMN nginx_reload_command text;
