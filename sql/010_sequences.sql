-- PgMultiMaster catalog, version 10: keys generated on several nodes at once never collide (PgMultiMaster:Sequences).
--
-- Each node's number in the cluster: assigned by `pgmm init` and `pgmm node add`, never two nodes of a cluster alike
-- while both are in it. Interleaved sequences count from it (START = a multiple of MaxNodes + number), and
-- pgmm.next_id puts it in the low bits of every id.
ALTER TABLE pgmm.node ADD COLUMN number integer CHECK (number BETWEEN 0 AND 1023);

-- The node number for pgmm.next_id, which runs as the application's role: that role reads this one value and no more.
CREATE FUNCTION pgmm.node_number() RETURNS integer
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    nodes bigint;
    n integer;
BEGIN
    SELECT pg_catalog.count(*), pg_catalog.min(number) INTO nodes, n FROM pgmm.node;
    IF nodes <> 1 OR n IS NULL THEN
        RAISE EXCEPTION 'pgmm.next_id: this database has no node number of its own (% cluster claims)', nodes
            USING ERRCODE = '55000', HINT = 'Run pgmm init (or pgmm node add) with PgMultiMaster:Sequences:Strategy Snowflake.';
    END IF;
    RETURN n;
END
$$;

-- A snowflake id: (state << 10) | node number, where state = milliseconds since 2025-01-01 UTC << 12 | a counter.
-- The sequence holds the state, so ids are unique and increasing on the node whatever its clock does: when the
-- clock is ahead of the sequence, the sequence is moved up to it; when the clock steps back, the sequence just goes
-- on counting. 41 bits of milliseconds last until 2094; more than 4096 ids in one millisecond borrow from the next.
--
-- setval alone could move the sequence back past a value another session took in between, so every nextval made
-- here holds a shared advisory lock of the sequence, and the move up an exclusive one: no id is ever issued twice.
-- The locks are session locks held for one statement (a transaction lock would be held until the caller's
-- transaction ends); the exception block gives them back if anything fails in between.
--
-- Runs as the caller (SECURITY INVOKER): the caller needs USAGE and UPDATE on the sequence (setval), as the owner of
-- a table has; nobody gains a right on any sequence by calling it. `at` is the clock: tests pass another time.
CREATE FUNCTION pgmm.next_id_at(seq regclass, at timestamptz) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    node bigint := pgmm.node_number();
    lock_space constant integer := 1886219520;  -- 'pmm\0': the two-key advisory lock space of pgmm.next_id
    lock_key integer := (seq::oid::bigint - CASE WHEN seq::oid::bigint >= 2147483648 THEN 4294967296 ELSE 0 END)::integer;
    now_state bigint := (pg_catalog.floor(EXTRACT(epoch FROM at) * 1000)::bigint - 1735689600000) << 12;
    v bigint;
    held integer := 0;  -- 1: the shared lock, 2: the exclusive one
BEGIN
    BEGIN
        PERFORM pg_catalog.pg_advisory_lock_shared(lock_space, lock_key);
        held := 1;
        v := pg_catalog.nextval(seq);
        PERFORM pg_catalog.pg_advisory_unlock_shared(lock_space, lock_key);
        held := 0;
        IF v < now_state THEN
            PERFORM pg_catalog.pg_advisory_lock(lock_space, lock_key);
            held := 2;
            -- No nextval of pgmm.next_id runs now: what the sequence holds is the most any caller has been given.
            v := pg_catalog.nextval(seq);
            IF v < now_state THEN
                PERFORM pg_catalog.setval(seq, now_state);
                v := pg_catalog.nextval(seq);
            END IF;
            PERFORM pg_catalog.pg_advisory_unlock(lock_space, lock_key);
            held := 0;
        END IF;
    EXCEPTION WHEN OTHERS OR query_canceled THEN
        IF held = 1 THEN PERFORM pg_catalog.pg_advisory_unlock_shared(lock_space, lock_key); END IF;
        IF held = 2 THEN PERFORM pg_catalog.pg_advisory_unlock(lock_space, lock_key); END IF;
        RAISE;
    END;
    IF v < 0 OR v >= (1::bigint << 53) THEN
        RAISE EXCEPTION 'pgmm.next_id: sequence % holds %, outside the 53 bits of a snowflake state', seq, v USING ERRCODE = '2200H';
    END IF;
    RETURN (v << 10) | node;
END
$$;

-- The column default: DEFAULT pgmm.next_id('public.orders_id_seq').
CREATE FUNCTION pgmm.next_id(seq regclass) RETURNS bigint
LANGUAGE sql SET search_path = pg_catalog, pg_temp
RETURN pgmm.next_id_at(seq, pg_catalog.clock_timestamp());

-- The application's roles call pgmm.next_id in their column defaults: they may look up names in the pgmm schema
-- (its tables stay closed to them: version 4 revoked every right on them) and run these three functions, which
-- read the node number and, as the caller, its own sequence. Every other function of the schema revokes EXECUTE from
-- PUBLIC itself (version 4), as each new one must.
GRANT USAGE ON SCHEMA pgmm TO PUBLIC;
GRANT EXECUTE ON FUNCTION pgmm.node_number(), pgmm.next_id_at(regclass, timestamptz), pgmm.next_id(regclass) TO PUBLIC;
