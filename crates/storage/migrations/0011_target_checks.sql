-- Health checks and discoveries: jobs for a worker of a pool (the API never touches hosts),
-- one row each from the request to the worker's answer (or to the timeout, when no worker
-- of the pool took it). A health check's result is also written on its target, with the
-- facts it found; `health_check_id` is the check the target shows.
CREATE TABLE target_checks (
    check_id uuid PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('health', 'discovery')),
    target_id uuid REFERENCES targets (target_id),
    host text,
    port integer CHECK (port BETWEEN 1 AND 65535),
    worker_pool text NOT NULL,
    requested_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at timestamptz,
    -- health: Healthy, Unhealthy, Unavailable; discovery: Found, Failed.
    status text,
    reason text,
    worker text,
    host_key_fingerprint text,
    key_type text,
    CHECK (kind <> 'health' OR target_id IS NOT NULL),
    CHECK (kind <> 'discovery' OR (host IS NOT NULL AND port IS NOT NULL)),
    CHECK ((finished_at IS NULL) = (status IS NULL))
);
CREATE INDEX target_checks_unfinished ON target_checks (requested_at) WHERE finished_at IS NULL;
CREATE INDEX target_checks_target ON target_checks (target_id, requested_at)
    WHERE target_id IS NOT NULL;

ALTER TABLE targets ADD COLUMN health_check_id uuid;
ALTER TABLE targets ADD COLUMN health_os text;
ALTER TABLE targets ADD COLUMN health_architecture text;
ALTER TABLE targets ADD COLUMN health_user text;
ALTER TABLE targets ADD COLUMN health_free_bytes bigint;
