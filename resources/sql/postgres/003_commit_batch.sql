-- saga_commit_batch: one batch of saga transitions in ONE statement (and so one
-- round trip and one transaction when called outside an explicit transaction).
-- The engine's committer calls it with the batch worked out client-side
-- (app/store/batchplan.*): JSON arrays of rows whose keys are column names.
-- Plans of the statements inside are prepared once per session (see the SET
-- clause for why they are pinned to index lookups).
--
-- Order of work: new orders (numbered from saga_order_number_seq), items,
-- executions, retry rows and corrections; the final state of the other executions,
-- refused with SQLSTATE SAG01 unless this engine (p_owner) still holds every lease;
-- step results merged per (execution, step); order status changes; retry
-- outcomes; then, last, the single-row counter (its row lock orders commits across
-- engines and is held only from here to the commit): positions for the events,
-- the events themselves (a new order's SAGA_STARTED gets details.orderNumber) and
-- one NOTIFY per event in position order. Answers the first position minus one
-- and {order id: number} of the new orders.
CREATE FUNCTION saga_commit_batch(p_owner TEXT, p_now BIGINT,
                                  p_orders JSONB, p_items JSONB, p_executions JSONB, p_retries JSONB,
                                  p_corrections JSONB, p_execution_updates JSONB, p_step_results JSONB,
                                  p_order_updates JSONB, p_retry_outcomes JSONB, p_events JSONB,
                                  OUT first_position BIGINT, OUT order_numbers JSONB)
LANGUAGE plpgsql
-- Every join below matches a few rows from the arguments to a large indexed
-- table; the planner guesses 100 rows for jsonb_to_recordset and, on a small
-- table, would pick a seq scan and keep it in the cached plan as the table grows.
SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off
AS $$
DECLARE
    n_events INTEGER := jsonb_array_length(p_events);
    expected INTEGER := jsonb_array_length(p_execution_updates);
    updated INTEGER;
BEGIN
    order_numbers := '{}';
    IF jsonb_array_length(p_orders) > 0 THEN
        WITH o AS (
            SELECT o.*, nextval('saga_order_number_seq') AS n
            FROM jsonb_to_recordset(p_orders) AS o(id TEXT, order_day TEXT, customer_id TEXT, status TEXT,
                overall_status TEXT, payment_method_id TEXT, ship_street TEXT, ship_city TEXT, ship_state TEXT,
                ship_postal_code TEXT, ship_country TEXT, total_in_cents BIGINT, trace_id TEXT, created_at BIGINT)
        ), inserted AS (
            INSERT INTO orders (id, order_number, customer_id, status, overall_status, payment_method_id, ship_street,
                                ship_city, ship_state, ship_postal_code, ship_country, total_in_cents, trace_id,
                                created_at, updated_at)
            SELECT id, 'ORD-' || order_day || '-' || lpad(n::TEXT, greatest(6, length(n::TEXT)), '0'), customer_id,
                   status, overall_status, payment_method_id, ship_street, ship_city, ship_state, ship_postal_code,
                   ship_country, total_in_cents, trace_id, created_at, created_at
            FROM o
            RETURNING id, order_number
        )
        SELECT jsonb_object_agg(id, order_number) INTO order_numbers FROM inserted;
    END IF;

    IF jsonb_array_length(p_items) > 0 THEN
        INSERT INTO order_items (order_id, line_no, product_id, product_name, quantity, unit_price_in_cents)
        SELECT order_id, line_no, product_id, product_name, quantity, unit_price_in_cents
        FROM jsonb_to_recordset(p_items) AS i(order_id TEXT, line_no BIGINT, product_id TEXT, product_name TEXT,
            quantity BIGINT, unit_price_in_cents BIGINT);
    END IF;

    IF jsonb_array_length(p_corrections) > 0 THEN
        UPDATE orders SET payment_method_id = COALESCE(c.payment_method_id, orders.payment_method_id),
                          ship_street = COALESCE(c.ship_street, orders.ship_street),
                          ship_city = COALESCE(c.ship_city, orders.ship_city),
                          ship_state = COALESCE(c.ship_state, orders.ship_state),
                          ship_postal_code = COALESCE(c.ship_postal_code, orders.ship_postal_code),
                          ship_country = COALESCE(c.ship_country, orders.ship_country)
        FROM jsonb_to_recordset(p_corrections) AS c(id TEXT, payment_method_id TEXT, ship_street TEXT, ship_city TEXT,
            ship_state TEXT, ship_postal_code TEXT, ship_country TEXT)
        WHERE orders.id = c.id;
    END IF;

    IF jsonb_array_length(p_executions) > 0 THEN
        INSERT INTO saga_executions (execution_id, order_id, attempt, status, current_step, started_at, completed_at,
                                     updated_at, lease_owner, lease_expires_at)
        SELECT execution_id, order_id, attempt, status, current_step, started_at, NULL, started_at, p_owner,
               lease_expires_at
        FROM jsonb_to_recordset(p_executions) AS e(execution_id TEXT, order_id TEXT, attempt BIGINT, status TEXT,
            current_step TEXT, started_at BIGINT, lease_expires_at BIGINT);
    END IF;

    IF jsonb_array_length(p_retries) > 0 THEN
        INSERT INTO retry_attempts (order_id, attempt_number, execution_id, initiated_at, resumed_from_step, outcome)
        SELECT order_id, attempt_number, execution_id, initiated_at, resumed_from_step, 'IN_PROGRESS'
        FROM jsonb_to_recordset(p_retries) AS r(order_id TEXT, attempt_number BIGINT, execution_id TEXT,
            initiated_at BIGINT, resumed_from_step TEXT);
    END IF;

    IF expected > 0 THEN
        UPDATE saga_executions
        SET status = v.status, current_step = v.current_step, updated_at = p_now, completed_at = v.completed_at,
            lease_owner = CASE WHEN v.terminal THEN NULL ELSE saga_executions.lease_owner END,
            lease_expires_at = CASE WHEN v.terminal THEN NULL ELSE saga_executions.lease_expires_at END
        FROM jsonb_to_recordset(p_execution_updates) AS v(execution_id TEXT, status TEXT, current_step TEXT,
            terminal BOOLEAN, completed_at BIGINT)
        WHERE saga_executions.execution_id = v.execution_id AND saga_executions.lease_owner = p_owner;
        GET DIAGNOSTICS updated = ROW_COUNT;
        IF updated <> expected THEN
            RAISE EXCEPTION 'lease lost: % of % executions not held by %', expected - updated, expected, p_owner
                USING ERRCODE = 'SAG01';
        END IF;
    END IF;

    IF jsonb_array_length(p_step_results) > 0 THEN
        INSERT INTO saga_step_results (execution_id, step_name, status, started_at, completed_at, error_code,
                                       error_message, result)
        SELECT execution_id, step_name, status, started_at, completed_at, error_code, error_message, result
        FROM jsonb_to_recordset(p_step_results) AS s(execution_id TEXT, step_name TEXT, status TEXT, started_at BIGINT,
            completed_at BIGINT, error_code TEXT, error_message TEXT, result TEXT)
        ON CONFLICT (execution_id, step_name) DO UPDATE SET
            status = excluded.status,
            started_at = COALESCE(excluded.started_at, saga_step_results.started_at),
            completed_at = COALESCE(excluded.completed_at, saga_step_results.completed_at),
            error_code = COALESCE(excluded.error_code, saga_step_results.error_code),
            error_message = COALESCE(excluded.error_message, saga_step_results.error_message),
            result = COALESCE(excluded.result, saga_step_results.result);
    END IF;

    IF jsonb_array_length(p_order_updates) > 0 THEN
        UPDATE orders SET status = v.status, overall_status = v.overall_status, updated_at = p_now,
            confirmation_number = COALESCE(v.confirmation_number, orders.confirmation_number),
            total_charged_in_cents = COALESCE(v.total_charged_in_cents, orders.total_charged_in_cents),
            estimated_delivery = COALESCE(v.estimated_delivery, orders.estimated_delivery)
        FROM jsonb_to_recordset(p_order_updates) AS v(id TEXT, status TEXT, overall_status TEXT,
            confirmation_number TEXT, total_charged_in_cents BIGINT, estimated_delivery TEXT)
        WHERE orders.id = v.id;
    END IF;

    IF jsonb_array_length(p_retry_outcomes) > 0 THEN
        UPDATE retry_attempts SET outcome = v.outcome
        FROM jsonb_to_recordset(p_retry_outcomes) AS v(order_id TEXT, attempt_number BIGINT, outcome TEXT)
        WHERE retry_attempts.order_id = v.order_id AND retry_attempts.attempt_number = v.attempt_number;
    END IF;

    -- Last: the counter, then the rows that need its values.
    UPDATE saga_counters SET last_position = last_position + n_events
    WHERE id = 1
    RETURNING last_position - n_events INTO first_position;
    IF first_position IS NULL THEN
        RAISE EXCEPTION 'saga_counters row missing';
    END IF;

    WITH inserted AS (
        INSERT INTO order_events (order_id, seq, position, event_type, step_name, details, created_at)
        SELECT order_id, seq, first_position + ord, event_type, step_name,
               CASE WHEN creates_order THEN jsonb_set(details, '{orderNumber}', order_numbers -> order_id)
                    ELSE details END,
               created_at
        FROM jsonb_to_recordset(p_events) AS ev(ord INTEGER, order_id TEXT, seq BIGINT, event_type TEXT,
            step_name TEXT, details JSONB, created_at BIGINT, creates_order BOOLEAN)
        RETURNING order_id, seq, position
    )
    SELECT count(*) INTO updated
    FROM (SELECT pg_notify('saga_events', order_id || ':' || seq) FROM inserted ORDER BY position) AS notified;
END;
$$;
