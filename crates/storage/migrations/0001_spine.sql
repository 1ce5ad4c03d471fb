-- The spine: environments, projects, packages, releases, deployments, their steps and logs,
-- the transactional outbox, and the record of messages already consumed.

CREATE TABLE environments (
    environment_id uuid PRIMARY KEY,
    name text NOT NULL,
    -- Environments are ordered (Dev, Test, Prod); the default lifecycle follows this order.
    sort_order bigserial NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX environments_name_unique ON environments (lower(name));

CREATE TABLE projects (
    project_id uuid PRIMARY KEY,
    name text NOT NULL,
    -- The process (ordered steps) as validated domain JSON; releases copy it.
    process jsonb NOT NULL,
    -- Flat name -> value map handed to scripts as environment variables.
    variables jsonb NOT NULL DEFAULT '{}'::jsonb,
    notification_email text,
    worker_pool text NOT NULL DEFAULT 'default',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX projects_name_unique ON projects (lower(name));

CREATE TABLE packages (
    package_id text NOT NULL,
    version text NOT NULL,
    format text NOT NULL CHECK (format IN ('zip', 'tar.gz')),
    sha256 text NOT NULL,
    size_bytes bigint NOT NULL CHECK (size_bytes >= 0),
    object_key text NOT NULL,
    uploaded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (package_id, version)
);

CREATE TABLE releases (
    release_id uuid PRIMARY KEY,
    project_id uuid NOT NULL REFERENCES projects (project_id),
    release_number text NOT NULL,
    notes text,
    -- Immutable snapshots taken at creation.
    process jsonb NOT NULL,
    variables jsonb NOT NULL,
    -- package_id -> {version, format, sha256, size_bytes, object_key}
    packages jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, release_number)
);

CREATE TABLE deployments (
    deployment_id uuid PRIMARY KEY,
    release_id uuid NOT NULL REFERENCES releases (release_id),
    project_id uuid NOT NULL REFERENCES projects (project_id),
    environment_id uuid NOT NULL REFERENCES environments (environment_id),
    status text NOT NULL CHECK (status IN ('Queued', 'Running', 'Success', 'Failed', 'Canceled')),
    error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    finished_at timestamptz
);
CREATE INDEX deployments_project_environment ON deployments (project_id, environment_id, created_at);

CREATE TABLE step_runs (
    step_run_id uuid PRIMARY KEY,
    deployment_id uuid NOT NULL REFERENCES deployments (deployment_id),
    step_index integer NOT NULL,
    name text NOT NULL,
    status text NOT NULL CHECK (status IN ('Pending', 'Skipped', 'Running', 'Succeeded', 'Failed', 'Canceled', 'Abandoned')),
    -- How many times a job was dispatched for this step (0 before the first).
    attempt integer NOT NULL DEFAULT 0,
    exit_code integer,
    error text,
    dispatched_at timestamptz,
    -- Reported by the worker: when the script started and ended on the worker's clock.
    started_at timestamptz,
    finished_at timestamptz,
    UNIQUE (deployment_id, step_index)
);

CREATE TABLE log_lines (
    log_line_id bigserial PRIMARY KEY,
    deployment_id uuid NOT NULL REFERENCES deployments (deployment_id),
    -- NULL for lines Ferry writes about the deployment as a whole.
    step_run_id uuid REFERENCES step_runs (step_run_id),
    attempt integer NOT NULL DEFAULT 0,
    sequence bigint,
    stream text NOT NULL CHECK (stream IN ('stdout', 'stderr', 'system')),
    logged_at timestamptz NOT NULL,
    text text NOT NULL
);
-- A worker's line is identified by step run, attempt and sequence: a redelivered batch
-- inserts nothing twice.
CREATE UNIQUE INDEX log_lines_identity ON log_lines (step_run_id, attempt, sequence)
    WHERE step_run_id IS NOT NULL;
CREATE INDEX log_lines_deployment ON log_lines (deployment_id, log_line_id);

-- Messages to publish, written in the same transaction as the state change that implies
-- them; the relay publishes them with confirms and stamps published_at.
CREATE TABLE outbox (
    outbox_id bigserial PRIMARY KEY,
    message_id uuid NOT NULL UNIQUE,
    exchange text NOT NULL,
    routing_key text NOT NULL,
    kind text NOT NULL,
    payload jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz,
    attempts integer NOT NULL DEFAULT 0,
    last_error text
);
CREATE INDEX outbox_unpublished ON outbox (outbox_id) WHERE published_at IS NULL;

-- Messages a consumer has applied; a redelivery finds its id here and changes nothing.
CREATE TABLE processed_messages (
    consumer text NOT NULL,
    message_id uuid NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, message_id)
);
