-- The release's variables when the deployment was created: a later *update variables* on the
-- release changes only deployments made after it. Deployments that exist already take their
-- release's current variables.
ALTER TABLE deployments ADD COLUMN IF NOT EXISTS variables jsonb;
UPDATE deployments d SET variables = r.variables
    FROM releases r WHERE r.release_id = d.release_id AND d.variables IS NULL;
ALTER TABLE deployments ALTER COLUMN variables SET DEFAULT '[]'::jsonb;
ALTER TABLE deployments ALTER COLUMN variables SET NOT NULL;
