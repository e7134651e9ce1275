-- PgMultiMaster catalog, version 6: how far each slot of this node may have let go of what its link applied.
--
-- A link confirms its slot only past transactions whose commit the target has flushed, and past WAL that held
-- nothing for the target (idle, echo). The target's replication origin keeps its progress, but a target restored
-- from a backup, or replaced by a standby that lagged, has an older progress than it once had: the slot no longer
-- holds the transactions in between, and resuming would skip them. The worker beside the source writes here, with
-- a durable commit and before confirming past it, the end LSN of the last transaction it applied; at start a link
-- whose target's progress is behind that (and behind the slot's confirmed_flush_lsn) stops instead (ADR 0013).
-- A row also tells a slot that was dropped from one that was never created: `pgmm init` writes it when it creates
-- the slot.
CREATE TABLE pgmm.slot_progress (
    slot_name   text PRIMARY KEY,
    applied_lsn pg_lsn NOT NULL,        -- end LSN of the last source transaction applied that the slot may pass
    recorded_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
