-- PgMultiMaster catalog, version 7: what `pgmm repair` changed on this node.
--
-- Repair writes on the node it repairs, in one transaction under the origin <cluster>__repair (so that no link sends
-- the writes on), and records each change here in the same transaction: a row is in this table if and only if the
-- change it describes committed. old_row is the row's text before (NULL for an insert), so a repair can be undone by
-- hand.
CREATE TABLE IF NOT EXISTS pgmm.repair_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    repaired_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    table_name  text NOT NULL,
    key         text[] NOT NULL,            -- the key's values as text, in key order
    action      text NOT NULL CHECK (action IN ('insert', 'update', 'delete')),
    from_node   text NOT NULL,              -- the node whose row was copied (or that lacked it)
    old_row     text,
    new_row     text
);
REVOKE ALL ON pgmm.repair_log FROM PUBLIC;
