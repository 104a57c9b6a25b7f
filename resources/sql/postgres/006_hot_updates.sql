-- Room on each page for the updates every saga makes (measured with bench_engine,
-- BENCHMARKS.md, engine section, session 5).
--
-- An order row is updated once after it is inserted (its outcome), an execution
-- three times (one per commit round), a step result once (STEP_STARTED inserts it,
-- the step's end updates it). None of these updates changes an indexed column, so
-- each can be a HOT update (the new version on the same page, no index entry) if
-- the page has room for it. With the fillfactors of 002 (80 and 70, step results
-- 100) the pages were full by the time the update came: 27 % of the order
-- updates, 40 % of the execution updates and 2 % of the step-result updates were
-- HOT; every other update wrote a new entry into each of the table's indexes
-- (four for orders, three for executions), about a third of the index writes of a
-- saga. Half-full pages leave room for the one update every row gets; dead
-- versions are pruned on the page. Existing pages keep their fill; new pages
-- (new sagas) get the room.
ALTER TABLE orders SET (fillfactor = 50);
ALTER TABLE saga_executions SET (fillfactor = 50);
ALTER TABLE saga_step_results SET (fillfactor = 50);
