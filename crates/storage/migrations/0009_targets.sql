-- Deployment targets: machines a step with a role runs on, reached over SSH (with the host
-- key a person pinned, and a private key sealed with the variables keyring) or the worker's
-- own host. Health is what the last check found.
CREATE TABLE targets (
    target_id uuid PRIMARY KEY,
    name text NOT NULL,
    environment_ids uuid[] NOT NULL,
    roles text[] NOT NULL,
    worker_pool text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('ssh', 'local')),
    ssh_host text,
    ssh_port integer CHECK (ssh_port BETWEEN 1 AND 65535),
    ssh_user text,
    host_key_fingerprint text,
    sealed_private_key text,
    health_status text NOT NULL DEFAULT 'Unknown',
    health_reason text,
    health_checked_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (kind <> 'ssh' OR (ssh_host IS NOT NULL AND ssh_port IS NOT NULL
        AND ssh_user IS NOT NULL AND host_key_fingerprint IS NOT NULL
        AND sealed_private_key IS NOT NULL)),
    CHECK (kind <> 'local' OR (ssh_host IS NULL AND ssh_port IS NULL AND ssh_user IS NULL
        AND host_key_fingerprint IS NULL AND sealed_private_key IS NULL))
);
CREATE UNIQUE INDEX targets_name_unique ON targets (lower(name));
