-- The index on (status, lease_expires_at) changed with every status change of an
-- execution (three per saga: an index entry deleted and one inserted each time).
-- As on PostgreSQL (postgres/002_hot_paths.sql), claims and lease renewals look
-- at unfinished executions (completed_at IS NULL) by lease; the engine's status
-- updates leave the indexed columns alone until the execution ends.
DROP INDEX saga_executions_active_idx;
CREATE INDEX saga_executions_lease_idx ON saga_executions (lease_owner, lease_expires_at) WHERE completed_at IS NULL;
