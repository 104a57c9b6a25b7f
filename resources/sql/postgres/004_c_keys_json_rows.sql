-- Cheaper keys and cheaper batch arguments (PostgreSQL only; measured with
-- bench_engine, figures in BENCHMARKS.md, engine section, session 3).
--
-- 1. Key and identifier columns compare bytewise (COLLATE "C"). They hold UUIDs,
--    order numbers and step names, never prose; under a libc collation (the
--    cluster default, e.g. C.UTF-8 or en_US.UTF-8) every B-tree comparison went
--    through strcoll, a sixth of the database's CPU per batch. Equality is
--    unchanged; ORDER BY on these columns now sorts by code point.
-- 2. order_events.details is JSON (the text as written) instead of JSONB. Nothing
--    queries inside details; readers take it as text. JSONB made every event's
--    details be parsed and rebuilt on insert (about a fifth of the database's CPU
--    per batch) and serialised again on every read.
-- 3. saga_commit_batch takes its rows as JSON instead of JSONB for the same reason:
--    json_to_recordset reads the text once, jsonb_in built a tree first. The
--    engine passes the number of events and of execution updates, and empty
--    arrays are recognised by their text, so no array is parsed just to count it.
--    (The engine calls it with parameters, not literals: no SQL text to scan.)
ALTER TABLE orders ALTER COLUMN id TYPE TEXT COLLATE "C",
                   ALTER COLUMN order_number TYPE TEXT COLLATE "C",
                   ALTER COLUMN customer_id TYPE TEXT COLLATE "C";
ALTER TABLE order_items ALTER COLUMN order_id TYPE TEXT COLLATE "C";
ALTER TABLE saga_executions ALTER COLUMN execution_id TYPE TEXT COLLATE "C",
                            ALTER COLUMN order_id TYPE TEXT COLLATE "C",
                            ALTER COLUMN lease_owner TYPE TEXT COLLATE "C";
ALTER TABLE saga_step_results ALTER COLUMN execution_id TYPE TEXT COLLATE "C",
                              ALTER COLUMN step_name TYPE TEXT COLLATE "C";
ALTER TABLE order_events ALTER COLUMN order_id TYPE TEXT COLLATE "C",
                         ALTER COLUMN details TYPE JSON USING details::JSON;
ALTER TABLE retry_attempts ALTER COLUMN order_id TYPE TEXT COLLATE "C";

DROP FUNCTION saga_commit_batch(TEXT, BIGINT, JSONB, JSONB, JSONB, JSONB, JSONB, JSONB, JSONB, JSONB, JSONB, JSONB);

-- Same work, in the same order, as in 003_commit_batch.sql (read its header).
CREATE FUNCTION saga_commit_batch(p_owner TEXT, p_now BIGINT, p_event_count INTEGER, p_execution_update_count INTEGER,
                                  p_orders JSON, p_items JSON, p_executions JSON, p_retries JSON,
                                  p_corrections JSON, p_execution_updates JSON, p_step_results JSON,
                                  p_order_updates JSON, p_retry_outcomes JSON, p_events JSON,
                                  OUT first_position BIGINT, OUT order_numbers JSONB)
LANGUAGE plpgsql
-- Every join below matches a few rows from the arguments to a large indexed
-- table; the planner guesses 100 rows for json_to_recordset and, on a small
-- table, would pick a seq scan and keep it in the cached plan as the table grows.
SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off
AS $$
DECLARE
    n_events INTEGER := p_event_count;
    expected INTEGER := p_execution_update_count;
    updated INTEGER;
    notified INTEGER;
BEGIN
    order_numbers := '{}';
    IF p_orders::TEXT <> '[]' THEN
        WITH o AS (
            SELECT o.*, nextval('saga_order_number_seq') AS n
            FROM json_to_recordset(p_orders) AS o(id TEXT, order_day TEXT, customer_id TEXT, status TEXT,
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

    IF p_items::TEXT <> '[]' THEN
        INSERT INTO order_items (order_id, line_no, product_id, product_name, quantity, unit_price_in_cents)
        SELECT order_id, line_no, product_id, product_name, quantity, unit_price_in_cents
        FROM json_to_recordset(p_items) AS i(order_id TEXT, line_no BIGINT, product_id TEXT, product_name TEXT,
            quantity BIGINT, unit_price_in_cents BIGINT);
    END IF;

    IF p_corrections::TEXT <> '[]' THEN
        UPDATE orders SET payment_method_id = COALESCE(c.payment_method_id, orders.payment_method_id),
                          ship_street = COALESCE(c.ship_street, orders.ship_street),
                          ship_city = COALESCE(c.ship_city, orders.ship_city),
                          ship_state = COALESCE(c.ship_state, orders.ship_state),
                          ship_postal_code = COALESCE(c.ship_postal_code, orders.ship_postal_code),
                          ship_country = COALESCE(c.ship_country, orders.ship_country)
        FROM json_to_recordset(p_corrections) AS c(id TEXT, payment_method_id TEXT, ship_street TEXT, ship_city TEXT,
            ship_state TEXT, ship_postal_code TEXT, ship_country TEXT)
        WHERE orders.id = c.id;
    END IF;

    IF p_executions::TEXT <> '[]' THEN
        INSERT INTO saga_executions (execution_id, order_id, attempt, status, current_step, started_at, completed_at,
                                     updated_at, lease_owner, lease_expires_at)
        SELECT execution_id, order_id, attempt, status, current_step, started_at, NULL, started_at, p_owner,
               lease_expires_at
        FROM json_to_recordset(p_executions) AS e(execution_id TEXT, order_id TEXT, attempt BIGINT, status TEXT,
            current_step TEXT, started_at BIGINT, lease_expires_at BIGINT);
    END IF;

    IF p_retries::TEXT <> '[]' THEN
        INSERT INTO retry_attempts (order_id, attempt_number, execution_id, initiated_at, resumed_from_step, outcome)
        SELECT order_id, attempt_number, execution_id, initiated_at, resumed_from_step, 'IN_PROGRESS'
        FROM json_to_recordset(p_retries) AS r(order_id TEXT, attempt_number BIGINT, execution_id TEXT,
            initiated_at BIGINT, resumed_from_step TEXT);
    END IF;

    IF expected > 0 THEN
        UPDATE saga_executions
        SET status = v.status, current_step = v.current_step, updated_at = p_now, completed_at = v.completed_at,
            lease_owner = CASE WHEN v.terminal THEN NULL ELSE saga_executions.lease_owner END,
            lease_expires_at = CASE WHEN v.terminal THEN NULL ELSE saga_executions.lease_expires_at END
        FROM json_to_recordset(p_execution_updates) AS v(execution_id TEXT, status TEXT, current_step TEXT,
            terminal BOOLEAN, completed_at BIGINT)
        WHERE saga_executions.execution_id = v.execution_id AND saga_executions.lease_owner = p_owner;
        GET DIAGNOSTICS updated = ROW_COUNT;
        IF updated <> expected THEN
            RAISE EXCEPTION 'lease lost: % of % executions not held by %', expected - updated, expected, p_owner
                USING ERRCODE = 'SAG01';
        END IF;
    END IF;

    IF p_step_results::TEXT <> '[]' THEN
        INSERT INTO saga_step_results (execution_id, step_name, status, started_at, completed_at, error_code,
                                       error_message, result)
        SELECT execution_id, step_name, status, started_at, completed_at, error_code, error_message, result
        FROM json_to_recordset(p_step_results) AS s(execution_id TEXT, step_name TEXT, status TEXT, started_at BIGINT,
            completed_at BIGINT, error_code TEXT, error_message TEXT, result TEXT)
        ON CONFLICT (execution_id, step_name) DO UPDATE SET
            status = excluded.status,
            started_at = COALESCE(excluded.started_at, saga_step_results.started_at),
            completed_at = COALESCE(excluded.completed_at, saga_step_results.completed_at),
            error_code = COALESCE(excluded.error_code, saga_step_results.error_code),
            error_message = COALESCE(excluded.error_message, saga_step_results.error_message),
            result = COALESCE(excluded.result, saga_step_results.result);
    END IF;

    IF p_order_updates::TEXT <> '[]' THEN
        UPDATE orders SET status = v.status, overall_status = v.overall_status, updated_at = p_now,
            confirmation_number = COALESCE(v.confirmation_number, orders.confirmation_number),
            total_charged_in_cents = COALESCE(v.total_charged_in_cents, orders.total_charged_in_cents),
            estimated_delivery = COALESCE(v.estimated_delivery, orders.estimated_delivery)
        FROM json_to_recordset(p_order_updates) AS v(id TEXT, status TEXT, overall_status TEXT,
            confirmation_number TEXT, total_charged_in_cents BIGINT, estimated_delivery TEXT)
        WHERE orders.id = v.id;
    END IF;

    IF p_retry_outcomes::TEXT <> '[]' THEN
        UPDATE retry_attempts SET outcome = v.outcome
        FROM json_to_recordset(p_retry_outcomes) AS v(order_id TEXT, attempt_number BIGINT, outcome TEXT)
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
        FROM json_to_recordset(p_events) AS ev(ord INTEGER, order_id TEXT, seq BIGINT, event_type TEXT,
            step_name TEXT, details JSON, created_at BIGINT, creates_order BOOLEAN)
        RETURNING order_id, seq, position
    )
    SELECT count(*) INTO notified
    FROM (SELECT pg_notify('saga_events', order_id || ':' || seq) FROM inserted ORDER BY position) AS notified;
    IF notified <> n_events THEN
        RAISE EXCEPTION 'event count mismatch: % events, p_event_count %', notified, n_events;
    END IF;
END;
$$;
