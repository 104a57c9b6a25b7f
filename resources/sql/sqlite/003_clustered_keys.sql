-- The two tables that get the most rows per saga keep their rows in their key's
-- B-tree instead of a rowid table plus a separate unique index on the key (eight
-- events and three step results per saga each wrote two B-trees):
--  - order_events: position (the global commit order, assigned in increasing
--    order by the committing transaction) is the rowid, so its rows are appended
--    at the table's right edge and the UNIQUE (position) index is gone;
--  - saga_step_results: WITHOUT ROWID, keyed by (execution_id, step_name), which
--    is what every write looks rows up by.
-- Nothing references either table, so each is rebuilt by copy, drop and rename.
CREATE TABLE order_events_clustered (
    position INTEGER PRIMARY KEY NOT NULL,
    order_id TEXT NOT NULL REFERENCES orders (id),
    seq INTEGER NOT NULL,
    event_type TEXT NOT NULL,
    step_name TEXT,
    details TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (order_id, seq)
);
INSERT INTO order_events_clustered (position, order_id, seq, event_type, step_name, details, created_at)
    SELECT position, order_id, seq, event_type, step_name, details, created_at FROM order_events ORDER BY position;
DROP TABLE order_events;
ALTER TABLE order_events_clustered RENAME TO order_events;

CREATE TABLE saga_step_results_clustered (
    execution_id TEXT NOT NULL REFERENCES saga_executions (execution_id),
    step_name TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at INTEGER,
    completed_at INTEGER,
    error_code TEXT,
    error_message TEXT,
    result TEXT,
    PRIMARY KEY (execution_id, step_name)
) WITHOUT ROWID;
INSERT INTO saga_step_results_clustered (execution_id, step_name, status, started_at, completed_at, error_code,
                                         error_message, result)
    SELECT execution_id, step_name, status, started_at, completed_at, error_code, error_message, result
    FROM saga_step_results;
DROP TABLE saga_step_results;
ALTER TABLE saga_step_results_clustered RENAME TO saga_step_results;
