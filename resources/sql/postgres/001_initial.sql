-- Saga Console schema (PostgreSQL). Timestamps are milliseconds since the Unix epoch (UTC).
CREATE TABLE orders (
    id TEXT PRIMARY KEY,
    order_number TEXT NOT NULL UNIQUE,
    customer_id TEXT NOT NULL,
    status TEXT NOT NULL,
    overall_status TEXT NOT NULL,
    payment_method_id TEXT NOT NULL,
    ship_street TEXT NOT NULL,
    ship_city TEXT NOT NULL,
    ship_state TEXT NOT NULL,
    ship_postal_code TEXT NOT NULL,
    ship_country TEXT NOT NULL,
    total_in_cents BIGINT NOT NULL,
    confirmation_number TEXT,
    total_charged_in_cents BIGINT,
    estimated_delivery TEXT,
    trace_id TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX orders_customer_idx ON orders (customer_id);
CREATE INDEX orders_created_idx ON orders (created_at DESC, id DESC);

CREATE TABLE order_items (
    order_id TEXT NOT NULL REFERENCES orders (id),
    line_no BIGINT NOT NULL,
    product_id TEXT NOT NULL,
    product_name TEXT NOT NULL,
    quantity BIGINT NOT NULL,
    unit_price_in_cents BIGINT NOT NULL,
    PRIMARY KEY (order_id, line_no)
);

CREATE TABLE saga_executions (
    execution_id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL REFERENCES orders (id),
    attempt BIGINT NOT NULL,
    status TEXT NOT NULL,
    current_step TEXT,
    started_at BIGINT NOT NULL,
    completed_at BIGINT,
    updated_at BIGINT NOT NULL,
    lease_owner TEXT,
    lease_expires_at BIGINT,
    UNIQUE (order_id, attempt)
);
CREATE INDEX saga_executions_active_idx ON saga_executions (status, lease_expires_at);

CREATE TABLE saga_step_results (
    execution_id TEXT NOT NULL REFERENCES saga_executions (execution_id),
    step_name TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at BIGINT,
    completed_at BIGINT,
    error_code TEXT,
    error_message TEXT,
    result TEXT,
    PRIMARY KEY (execution_id, step_name)
);

CREATE TABLE order_events (
    order_id TEXT NOT NULL REFERENCES orders (id),
    seq BIGINT NOT NULL,
    position BIGINT NOT NULL UNIQUE,
    event_type TEXT NOT NULL,
    step_name TEXT,
    details JSONB NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (order_id, seq)
);

CREATE TABLE retry_attempts (
    order_id TEXT NOT NULL REFERENCES orders (id),
    attempt_number BIGINT NOT NULL,
    execution_id TEXT NOT NULL,
    initiated_at BIGINT NOT NULL,
    resumed_from_step TEXT NOT NULL,
    outcome TEXT NOT NULL,
    PRIMARY KEY (order_id, attempt_number)
);

-- One row: the global commit-ordered event position and the order number sequence.
-- Updated inside every committing transaction, so concurrent commits serialize on it.
CREATE TABLE saga_counters (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    last_position BIGINT NOT NULL,
    last_order_number BIGINT NOT NULL
);
INSERT INTO saga_counters (id, last_position, last_order_number) VALUES (1, 0, 0);
