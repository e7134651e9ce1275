-- PgMultiMaster catalog, version 8: copying a node's data to another (init --seed-from, node add).
--
-- What each applied transaction moved its origin's progress to, written in the same transaction as the data. The
-- origin's own progress (pg_replication_origin_status) is not transactional: it cannot say what a snapshot of this
-- node holds. A row here can: read in the snapshot a new node copies from, it gives exactly the position from which
-- the new node must take every other node's changes, so none is lost or applied twice (ADR 0017).
CREATE TABLE pgmm.applied_progress (
    origin       text PRIMARY KEY,
    lsn          pg_lsn NOT NULL DEFAULT '0/0',   -- end LSN on the source of the last transaction applied from it
    committed_at timestamptz                      -- the source's commit timestamp of that transaction
);
-- Written by every applied commit (ChangeStatements.CommitCheck), as a CTE of its last statement.

-- Tables copied into this node from another, each row committed with the table's copy: an interrupted copy is
-- told from the application's data, and started again cleanly.
CREATE TABLE pgmm.copy_state (
    table_name  text PRIMARY KEY,
    source      text NOT NULL,                    -- the node copied from
    rows        bigint,                           -- NULL: the table was kept as it was (--non-empty keep)
    bytes       bigint,
    copied_at   timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
REVOKE ALL ON ALL TABLES IN SCHEMA pgmm FROM PUBLIC;
