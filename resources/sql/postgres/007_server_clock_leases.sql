-- Leases on the database server's clock (one clock for every engine on the
-- database). A lease's expiry was the engine's own clock reading plus the lease:
-- an engine whose host's clock ran a minute ahead saw every other engine's valid
-- lease as expired and took its sagas over; one whose clock ran behind wrote
-- leases that had already run out by everyone else's reckoning. Claims and
-- renewals (app/store/sagastore.cpp) now compute expiries from the server's
-- statement_timestamp(); so does this function for the executions a batch
-- creates.
--
-- The engine's arguments are unchanged: p_now is its clock when it planned the
-- batch (still what updated_at records) and each new execution's lease_expires_at
-- is p_now plus the lease it asks for, so lease_expires_at - p_now is the lease's
-- length whatever the engine's clock says. Everything else is
-- 005_binary_rows.sql's function as it was: the lease check of the executions a
-- batch updates compares owners only, never times (a lease that ran out but was
-- not claimed by another engine is still its owner's), and a commit extends no
-- lease (renewals do).
CREATE OR REPLACE FUNCTION saga_commit_batch(p_owner TEXT, p_now BIGINT,
                                  p_orders saga_order_row[], p_items saga_item_row[],
                                  p_executions saga_execution_row[], p_retries saga_retry_row[],
                                  p_corrections saga_correction_row[],
                                  p_execution_updates saga_execution_update_row[],
                                  p_step_results saga_step_result_row[], p_order_updates saga_order_update_row[],
                                  p_retry_outcomes saga_retry_outcome_row[], p_events saga_event_row[],
                                  OUT first_position BIGINT, OUT order_numbers JSONB)
LANGUAGE plpgsql
-- Every join below matches a few rows from the arguments to a large indexed
-- table; the planner guesses a few rows for unnest and, on a small table,
-- could pick a seq scan and keep it in the cached plan as the table grows.
SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off
AS $$
DECLARE
    n_events INTEGER := coalesce(cardinality(p_events), 0);
    expected INTEGER := coalesce(cardinality(p_execution_updates), 0);
    updated INTEGER;
BEGIN
    order_numbers := '{}';
    IF cardinality(p_orders) > 0 THEN
        WITH o AS (
            SELECT o.*, nextval('saga_order_number_seq') AS n FROM unnest(p_orders) AS o
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

    IF cardinality(p_items) > 0 THEN
        INSERT INTO order_items (order_id, line_no, product_id, product_name, quantity, unit_price_in_cents)
        SELECT order_id, line_no, product_id, product_name, quantity, unit_price_in_cents FROM unnest(p_items);
    END IF;

    IF cardinality(p_corrections) > 0 THEN
        UPDATE orders SET payment_method_id = COALESCE(c.payment_method_id, orders.payment_method_id),
                          ship_street = COALESCE(c.ship_street, orders.ship_street),
                          ship_city = COALESCE(c.ship_city, orders.ship_city),
                          ship_state = COALESCE(c.ship_state, orders.ship_state),
                          ship_postal_code = COALESCE(c.ship_postal_code, orders.ship_postal_code),
                          ship_country = COALESCE(c.ship_country, orders.ship_country)
        FROM unnest(p_corrections) AS c
        WHERE orders.id = c.id;
    END IF;

    IF cardinality(p_executions) > 0 THEN
        INSERT INTO saga_executions (execution_id, order_id, attempt, status, current_step, started_at, completed_at,
                                     updated_at, lease_owner, lease_expires_at)
        SELECT execution_id, order_id, attempt, status, current_step, started_at, NULL, started_at, p_owner,
               (EXTRACT(EPOCH FROM statement_timestamp()) * 1000)::BIGINT + (lease_expires_at - p_now)
        FROM unnest(p_executions);
    END IF;

    IF cardinality(p_retries) > 0 THEN
        INSERT INTO retry_attempts (order_id, attempt_number, execution_id, initiated_at, resumed_from_step, outcome)
        SELECT order_id, attempt_number, execution_id, initiated_at, resumed_from_step, 'IN_PROGRESS'
        FROM unnest(p_retries);
    END IF;

    IF expected > 0 THEN
        UPDATE saga_executions
        SET status = v.status, current_step = v.current_step, updated_at = p_now, completed_at = v.completed_at,
            lease_owner = CASE WHEN v.terminal THEN NULL ELSE saga_executions.lease_owner END,
            lease_expires_at = CASE WHEN v.terminal THEN NULL ELSE saga_executions.lease_expires_at END
        FROM unnest(p_execution_updates) AS v
        WHERE saga_executions.execution_id = v.execution_id AND saga_executions.lease_owner = p_owner;
        GET DIAGNOSTICS updated = ROW_COUNT;
        IF updated <> expected THEN
            RAISE EXCEPTION 'lease lost: % of % executions not held by %', expected - updated, expected, p_owner
                USING ERRCODE = 'SAG01';
        END IF;
    END IF;

    IF cardinality(p_step_results) > 0 THEN
        INSERT INTO saga_step_results (execution_id, step_name, status, started_at, completed_at, error_code,
                                       error_message, result)
        SELECT execution_id, step_name, status, started_at, completed_at, error_code, error_message, result
        FROM unnest(p_step_results)
        ON CONFLICT (execution_id, step_name) DO UPDATE SET
            status = excluded.status,
            started_at = COALESCE(excluded.started_at, saga_step_results.started_at),
            completed_at = COALESCE(excluded.completed_at, saga_step_results.completed_at),
            error_code = COALESCE(excluded.error_code, saga_step_results.error_code),
            error_message = COALESCE(excluded.error_message, saga_step_results.error_message),
            result = COALESCE(excluded.result, saga_step_results.result);
    END IF;

    IF cardinality(p_order_updates) > 0 THEN
        UPDATE orders SET status = v.status, overall_status = v.overall_status, updated_at = p_now,
            confirmation_number = COALESCE(v.confirmation_number, orders.confirmation_number),
            total_charged_in_cents = COALESCE(v.total_charged_in_cents, orders.total_charged_in_cents),
            estimated_delivery = COALESCE(v.estimated_delivery, orders.estimated_delivery)
        FROM unnest(p_order_updates) AS v
        WHERE orders.id = v.id;
    END IF;

    IF cardinality(p_retry_outcomes) > 0 THEN
        UPDATE retry_attempts SET outcome = v.outcome
        FROM unnest(p_retry_outcomes) AS v
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
               CASE WHEN creates_order THEN jsonb_set(details::JSONB, '{orderNumber}', order_numbers -> order_id)::JSON
                    ELSE details END,
               created_at
        FROM unnest(p_events) WITH ORDINALITY AS ev(order_id, seq, event_type, step_name, details, created_at,
                                                     creates_order, ord)
        RETURNING order_id, seq, position
    )
    SELECT count(*) INTO updated
    FROM (SELECT pg_notify('saga_events', order_id || ':' || seq) FROM inserted ORDER BY position) AS notified;
END;
$$;
