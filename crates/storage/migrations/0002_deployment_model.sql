-- The tutorial's deployment model: lifecycles, scoped and sensitive variables, guided
-- failure, manual interventions, one deployment at a time per project and environment,
-- step outputs, and the audit log.

CREATE TABLE lifecycles (
    lifecycle_id uuid PRIMARY KEY,
    name text NOT NULL,
    -- The ordered phases as validated domain JSON (environment names, rules).
    phases jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX lifecycles_name_unique ON lifecycles (lower(name));

-- Whether a failed step pauses for a person's decision instead of failing, by default, in
-- this environment.
ALTER TABLE environments ADD COLUMN guided_failure boolean NOT NULL DEFAULT false;

-- NULL lifecycle: the default lifecycle (every environment, in order).
ALTER TABLE projects ADD COLUMN lifecycle_id uuid REFERENCES lifecycles (lifecycle_id);
-- NULL: follow the environment's setting.
ALTER TABLE projects ADD COLUMN guided_failure boolean;

-- Variables become a list of scoped values ({name, value, sensitive, scope}); a sensitive
-- value is stored encrypted. Convert the spine's flat name -> value maps.
UPDATE projects SET variables = (
    SELECT coalesce(jsonb_agg(jsonb_build_object('name', key, 'value', value)), '[]'::jsonb)
    FROM jsonb_each_text(projects.variables)
) WHERE jsonb_typeof(variables) = 'object';
UPDATE releases SET variables = (
    SELECT coalesce(jsonb_agg(jsonb_build_object('name', key, 'value', value)), '[]'::jsonb)
    FROM jsonb_each_text(releases.variables)
) WHERE jsonb_typeof(variables) = 'object';
ALTER TABLE releases ADD COLUMN variables_updated_at timestamptz;

ALTER TABLE deployments DROP CONSTRAINT deployments_status_check;
ALTER TABLE deployments ADD CONSTRAINT deployments_status_check
    CHECK (status IN ('Queued', 'Running', 'WaitingForIntervention', 'Success', 'Failed', 'Canceled'));
-- Fixed at creation: the effective guided-failure setting and the steps the creator excluded.
ALTER TABLE deployments ADD COLUMN guided_failure boolean NOT NULL DEFAULT false;
ALTER TABLE deployments ADD COLUMN excluded_steps text[] NOT NULL DEFAULT '{}';
-- A rollback names the deployment it rolls back from.
ALTER TABLE deployments ADD COLUMN rollback_of uuid REFERENCES deployments (deployment_id);
-- Finding what is active or queued per project and environment, and what succeeded where.
CREATE INDEX deployments_active ON deployments (project_id, environment_id, created_at)
    WHERE status IN ('Queued', 'Running', 'WaitingForIntervention');
CREATE INDEX deployments_release_status ON deployments (release_id, status);

-- A failure a person chose to ignore under guided failure: the step counts as succeeded.
ALTER TABLE step_runs ADD COLUMN failure_ignored boolean NOT NULL DEFAULT false;
-- Output variables the worker reported (name -> value), e.g. Package.InstallationDirectoryPath.
ALTER TABLE step_runs ADD COLUMN outputs jsonb NOT NULL DEFAULT '{}'::jsonb;

-- A question a deployment waits on: a manual intervention, or a guided failure.
CREATE TABLE interruptions (
    interruption_id uuid PRIMARY KEY,
    deployment_id uuid NOT NULL REFERENCES deployments (deployment_id),
    step_run_id uuid NOT NULL REFERENCES step_runs (step_run_id),
    kind text NOT NULL CHECK (kind IN ('manual_intervention', 'guided_failure')),
    -- Rendered instructions (manual intervention) or the failure (guided failure).
    instructions text NOT NULL,
    responsible_team text,
    created_at timestamptz NOT NULL DEFAULT now(),
    taken_by text,
    taken_at timestamptz,
    resolution text CHECK (resolution IN ('proceed', 'abort', 'retry', 'ignore')),
    note text,
    resolved_by text,
    resolved_at timestamptz
);
CREATE INDEX interruptions_pending ON interruptions (created_at) WHERE resolved_at IS NULL;
CREATE INDEX interruptions_deployment ON interruptions (deployment_id, created_at);

-- Append-only record of changes and actions, with actor and time.
CREATE TABLE audit_events (
    audit_event_id bigserial PRIMARY KEY,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    actor text NOT NULL,
    action text NOT NULL,
    project_id uuid,
    environment_id uuid,
    subject text NOT NULL,
    details jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_events_time ON audit_events (occurred_at);
