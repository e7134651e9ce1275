-- PgMultiMaster catalog, version 3: what each worker last said about its links.
-- The worker beside a node rewrites its row every Monitoring:PollInterval, so `pgmm status` and every worker's
-- dashboard can show the whole cluster by reading the nodes, and tell a worker that stopped (its row goes stale).
-- UNLOGGED: written often, never replicated, worthless after a crash. Its rows are not WAL-logged; each upsert
-- still commits, which writes a small commit record.
CREATE UNLOGGED TABLE pgmm.worker_status (
    cluster    text NOT NULL,
    node       text NOT NULL,
    started_at timestamptz NOT NULL,
    seen_at    timestamptz NOT NULL,
    status     jsonb NOT NULL,   -- {"links": [...], "history": [...]}, as in /api/status
    PRIMARY KEY (cluster, node)
);
