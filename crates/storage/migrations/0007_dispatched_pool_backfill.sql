-- Attempts running when 0005 was applied were sent to their project's pool then: record it,
-- so their workers' events are believed (services/api/src/senders.rs).
UPDATE step_runs s SET dispatched_pool = p.worker_pool
FROM deployments d JOIN projects p ON p.project_id = d.project_id
WHERE d.deployment_id = s.deployment_id AND s.status = 'Running' AND s.dispatched_pool IS NULL;
