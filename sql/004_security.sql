-- PgMultiMaster catalog, version 4: nothing of pgmm's runs with anyone else's rights or search_path.
--
-- The tombstone trigger fires inside the application's own transactions, as the application's role, which has no
-- rights on the pgmm schema (and must not need any). It therefore runs as its owner, pgmm's role (SECURITY
-- DEFINER), with a fixed search_path and every call qualified, so nothing another role creates in a schema on the
-- path can run with pgmm's rights (its operators resolve in pg_catalog through that search_path). A trigger
-- function needs no EXECUTE right to fire: nobody gets one.

CREATE OR REPLACE FUNCTION pgmm.record_tombstone() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    old_row jsonb := pg_catalog.to_jsonb(OLD);
    k jsonb := '{}';
    c text;
BEGIN
    FOREACH c IN ARRAY TG_ARGV LOOP
        k := k || pg_catalog.jsonb_build_object(c, old_row -> c);
    END LOOP;
    INSERT INTO pgmm.tombstone (table_name, key)
    VALUES (TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, k)
    -- Rewriting the row gives it a new xmin: the tombstone then carries this delete's commit time and origin.
    ON CONFLICT (table_name, key) DO UPDATE SET key = excluded.key;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION pgmm.record_tombstone() FROM PUBLIC;

-- Called only by the apply session, which runs as pgmm's role.
CREATE OR REPLACE FUNCTION pgmm.assert_not_halted() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF pg_catalog.current_setting('pgmm.halt', true) = 'on' THEN
        RAISE EXCEPTION 'pgmm: a conflict stopped this batch' USING ERRCODE = 'PM001';
    END IF;
END
$$;
REVOKE ALL ON FUNCTION pgmm.assert_not_halted() FROM PUBLIC;

-- The catalog is pgmm's alone: its records hold row values of every replicated table.
REVOKE ALL ON SCHEMA pgmm FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA pgmm FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA pgmm FROM PUBLIC;
