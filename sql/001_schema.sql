-- PgMultiMaster catalog, version 1. Applied by `pgmm init` on every node, once, in one transaction.
-- The pgmm schema is never published: what is written here stays on its node.

CREATE TABLE pgmm.schema_version (
    version    integer PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- Which cluster node this database is, so status and diagnostics can tell the nodes apart.
CREATE TABLE pgmm.node (
    cluster    text PRIMARY KEY,
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
