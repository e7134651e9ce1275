-- PgMultiMaster catalog, version 2: conflict records, parked changes and tombstones.

-- When the worker beside this node last trimmed the conflict log and removed tombstones.
ALTER TABLE pgmm.node ADD COLUMN last_housekeeping timestamptz;

-- Every detected conflict, written by the apply session in the same transaction as its resolution.
CREATE TABLE pgmm.conflict_log (
    id               bigserial PRIMARY KEY,
    logged_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    conflict_type    text NOT NULL,
    table_name       text NOT NULL,
    key              jsonb,
    local_row        jsonb,
    remote_row       jsonb,
    kept_row         jsonb,
    local_origin     text,
    local_commit_ts  timestamptz,
    remote_origin    text NOT NULL,
    remote_commit_ts timestamptz NOT NULL,
    remote_lsn       pg_lsn NOT NULL,
    rule             text NOT NULL,
    resolution       text NOT NULL
);
CREATE INDEX conflict_log_logged_at ON pgmm.conflict_log (logged_at);

-- Changes that could not be applied, with everything needed to apply them later. The stream goes on.
CREATE TABLE pgmm.dead_letter (
    id               bigserial PRIMARY KEY,
    parked_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    source_node      text NOT NULL,
    origin_name      text NOT NULL,
    table_name       text NOT NULL,
    schema_name      text NOT NULL,
    relation_name    text NOT NULL,
    operation        text NOT NULL CHECK (operation IN ('insert', 'update', 'delete')),
    key              jsonb,
    old_row          jsonb,
    new_row          jsonb,
    columns          jsonb NOT NULL,  -- [{"name": ..., "key": bool, "type": oid}] in the source's column order
    replica_identity text NOT NULL,
    remote_commit_ts timestamptz NOT NULL,
    remote_lsn       pg_lsn NOT NULL,
    conflict_type    text,
    reason           text NOT NULL,
    retryable        boolean NOT NULL,
    force            boolean NOT NULL DEFAULT false,  -- set by `pgmm dead-letter retry`: apply even if the conflict remains
    attempts         integer NOT NULL DEFAULT 0,
    last_attempt_at  timestamptz,
    last_error       text
);
CREATE INDEX dead_letter_origin ON pgmm.dead_letter (origin_name, id);

-- Recently deleted keys. The row's own xmin carries the delete's commit timestamp and origin, so an
-- update or insert that arrives after a concurrent delete can be ordered against it (last writer wins).
CREATE TABLE pgmm.tombstone (
    table_name text NOT NULL,
    key        jsonb NOT NULL,
    PRIMARY KEY (table_name, key)
);

-- ENABLE ALWAYS trigger on every replicated table with a key: deletes, and updates that change the key.
-- TG_ARGV holds the key column names.
CREATE FUNCTION pgmm.record_tombstone() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    old_row jsonb := to_jsonb(OLD);
    k jsonb := '{}';
    c text;
BEGIN
    FOREACH c IN ARRAY TG_ARGV LOOP
        k := k || jsonb_build_object(c, old_row -> c);
    END LOOP;
    INSERT INTO pgmm.tombstone (table_name, key) VALUES (TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, k)
    -- Rewriting the row gives it a new xmin: the tombstone then carries this delete's commit time and origin.
    ON CONFLICT (table_name, key) DO UPDATE SET key = excluded.key;
    RETURN NULL;
END
$$;

-- The apply session sends a transaction's statements in one pipeline. A statement that meets a conflict sets
-- pgmm.halt and every statement after it does nothing; this check, just before COMMIT, turns such a batch into
-- a rollback so the conflict can be resolved and the rest sent again.
CREATE FUNCTION pgmm.assert_not_halted() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('pgmm.halt', true) = 'on' THEN
        RAISE EXCEPTION 'pgmm: a conflict stopped this batch' USING ERRCODE = 'PM001';
    END IF;
END
$$;
