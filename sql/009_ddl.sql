-- PgMultiMaster catalog, version 9: schema changes (DDL) replicate in order with the data.
--
-- A captured command is a row of pgmm.ddl_log, inserted in the transaction that ran it. pgmm.ddl_log is the one pgmm
-- table in a publication (the insert-only one), so its INSERT reaches every link at exactly its place in the change
-- stream: after the rows written before the command, before those written after it. The link runs the command on its
-- target inside the applied transaction (Apply/DdlApplier), which commits with the origin's progress like any other.
--
-- Why a table and not pg_logical_emit_message: a link runs what it reads with pgmm's rights on every other node, so
-- what it reads must come from a source only pgmm controls. EXECUTE on pg_logical_emit_message is granted to PUBLIC
-- (checked on PostgreSQL 15 and 18: any role may emit a message with any prefix), so any role that may only write
-- rows could emit a "DDL" message that pgmm would run as itself elsewhere. Rows of pgmm.ddl_log are written only by
-- the SECURITY DEFINER functions below, owned by pgmm's role; nobody else may insert into it.

-- How this node captures DDL, and which tables a new table must match to replicate: written by `pgmm init`.
CREATE TABLE pgmm.ddl_settings (
    cluster                 text PRIMARY KEY,
    capture                 text NOT NULL CHECK (capture IN ('EventTrigger', 'Function', 'Off')),
    publication             text NOT NULL,
    insert_only_publication text NOT NULL
);

-- The configured Tables / InsertOnlyTables patterns, as anchored regular expressions (Setup/TablePattern).
CREATE TABLE pgmm.ddl_tables (
    cluster      text NOT NULL REFERENCES pgmm.ddl_settings ON DELETE CASCADE,
    pattern      text NOT NULL,
    schema_regex text NOT NULL,
    table_regex  text NOT NULL,
    insert_only  boolean NOT NULL,
    PRIMARY KEY (cluster, pattern, insert_only)
);

CREATE TABLE pgmm.ddl_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    command     text NOT NULL,                      -- the statement as the client sent it
    search_path text NOT NULL,                      -- the search_path it ran with
    role_name   text NOT NULL,                      -- the role that ran it (current_user)
    tag         text NOT NULL,                      -- its command tag (ALTER TABLE, ...), or 'pgmm.replicate_ddl'
    object      text,                               -- the table it changed (schema-qualified), when known
    shape       jsonb,                              -- that table's columns and indexes after it (pgmm.ddl_table_shape)
    at          timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);

-- A table's columns (type, default, not null) and indexes, or NULL when it does not exist: compared on a target whose
-- copy of a command fails because its object is already there (or already gone).
CREATE OR REPLACE FUNCTION pgmm.ddl_table_shape(rel text) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN c.oid IS NULL THEN NULL ELSE pg_catalog.jsonb_build_object(
        'columns', (SELECT coalesce(pg_catalog.jsonb_object_agg(a.attname, pg_catalog.jsonb_build_object(
                        'type', pg_catalog.format_type(a.atttypid, a.atttypmod),
                        'default', pg_catalog.pg_get_expr(d.adbin, d.adrelid),
                        'not_null', a.attnotnull)), '{}')
                    FROM pg_catalog.pg_attribute a LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                    WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
        'indexes', (SELECT coalesce(pg_catalog.jsonb_object_agg(i.relname, pg_catalog.pg_get_indexdef(x.indexrelid)), '{}')
                    FROM pg_catalog.pg_index x JOIN pg_catalog.pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = c.oid)) END
    FROM (SELECT pg_catalog.to_regclass(rel) AS oid) c
$$;
REVOKE ALL ON FUNCTION pgmm.ddl_table_shape(text) FROM PUBLIC;

-- Top-level statements in a query string (quotes, dollar quotes, comments and E'' escapes are skipped): a string of
-- several statements is not replicated as a whole, which would run its other statements again on every node.
CREATE OR REPLACE FUNCTION pgmm.ddl_statement_count(q text) RETURNS integer
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    i int := 1; n int := pg_catalog.length(q); c text; count int := 0; pending boolean := false; tag text; j int;
BEGIN
    WHILE i <= n LOOP
        c := pg_catalog.substr(q, i, 1);
        IF c = '-' AND pg_catalog.substr(q, i, 2) = '--' THEN
            j := pg_catalog.strpos(pg_catalog.substr(q, i), E'\n');
            i := CASE WHEN j = 0 THEN n + 1 ELSE i + j END;
            CONTINUE;
        ELSIF c = '/' AND pg_catalog.substr(q, i, 2) = '/*' THEN
            j := pg_catalog.strpos(pg_catalog.substr(q, i + 2), '*/');
            i := CASE WHEN j = 0 THEN n + 1 ELSE i + j + 3 END;
            CONTINUE;
        ELSIF c = '''' OR c = '"' THEN
            pending := true;
            -- E'..' strings: a backslash escapes the next character
            IF c = '''' AND i > 1 AND pg_catalog.upper(pg_catalog.substr(q, i - 1, 1)) = 'E' THEN
                i := i + 1;
                WHILE i <= n AND pg_catalog.substr(q, i, 1) <> '''' LOOP
                    i := i + CASE WHEN pg_catalog.substr(q, i, 1) = '\' THEN 2 ELSE 1 END;
                END LOOP;
                i := i + 1;
            ELSE
                j := pg_catalog.strpos(pg_catalog.substr(q, i + 1), c);
                i := CASE WHEN j = 0 THEN n + 1 ELSE i + j + 1 END;
            END IF;
            CONTINUE;
        ELSIF c = '$' THEN
            tag := pg_catalog.substring(pg_catalog.substr(q, i), '^\$[A-Za-z_]*\$');
            IF tag IS NOT NULL THEN
                pending := true;
                j := pg_catalog.strpos(pg_catalog.substr(q, i + pg_catalog.length(tag)), tag);
                i := CASE WHEN j = 0 THEN n + 1 ELSE i + pg_catalog.length(tag) + j - 1 + pg_catalog.length(tag) END;
                CONTINUE;
            END IF;
        ELSIF c = ';' THEN
            IF pending THEN count := count + 1; END IF;
            pending := false;
            i := i + 1;
            CONTINUE;
        END IF;
        IF c !~ '\s' THEN pending := true; END IF;
        i := i + 1;
    END LOOP;
    RETURN count + CASE WHEN pending THEN 1 ELSE 0 END;
END
$$;
REVOKE ALL ON FUNCTION pgmm.ddl_statement_count(text) FROM PUBLIC;

-- Why a command on a replicated table cannot replicate safely, or NULL. Read from the statement's text: an event trigger
-- in PL/pgSQL cannot see the parsed command. A word in a comment or a string may refuse a harmless command: the
-- message says how to run it anyway (SET pgmm.ddl = 'local': on this node only, to be repeated on every node).
CREATE OR REPLACE FUNCTION pgmm.ddl_refusal(q text, tag text) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE
        WHEN tag IN ('CREATE TABLE AS', 'SELECT INTO') THEN
            'a table made from a query would be filled again on every node from that node''s own rows; '
            || 'CREATE TABLE it empty, then INSERT ... SELECT: its rows replicate'
        WHEN q ~* '\mRENAME\M' THEN
            'a rename cannot replicate while other nodes write: their changes name the old table or column. '
            || 'Expand and contract instead: add the new table or column, write both, backfill, move readers, then drop the old one'
        WHEN q ~* '\mALTER\M\s+(\mCOLUMN\M\s+)?("[^"]+"|\S+)\s+(\mSET\M\s+\mDATA\M\s+)?\mTYPE\M' AND tag = 'ALTER TABLE' THEN
            'a column''s type cannot change while other nodes write values of the old type. '
            || 'Expand and contract instead: add a column of the new type, write both, backfill, move readers, then drop the old one'
        WHEN q ~* '\mSET\M\s+\mSCHEMA\M' THEN
            'moving a replicated table to another schema is a rename: add the new table, copy, then drop the old one'
    END
$$;
REVOKE ALL ON FUNCTION pgmm.ddl_refusal(text, text) FROM PUBLIC;

-- The cluster whose Tables patterns match a table, and whether it is insert-only there (NULL: none matches).
CREATE OR REPLACE FUNCTION pgmm.ddl_matching_cluster(schema_name text, table_name text, OUT cluster text, OUT insert_only boolean)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT t.cluster, pg_catalog.bool_or(t.insert_only)
    FROM pgmm.ddl_tables t JOIN pgmm.ddl_settings s USING (cluster)
    WHERE s.capture <> 'Off' AND schema_name ~ t.schema_regex AND table_name ~ t.table_regex
    GROUP BY t.cluster ORDER BY t.cluster LIMIT 1
$$;
REVOKE ALL ON FUNCTION pgmm.ddl_matching_cluster(text, text) FROM PUBLIC;

-- The table is replicated: one of the clusters' publications holds it.
CREATE OR REPLACE FUNCTION pgmm.ddl_is_replicated(rel oid) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_publication_rel r JOIN pg_catalog.pg_publication p ON p.oid = r.prpubid
                   JOIN pgmm.ddl_settings s ON p.pubname IN (s.publication, s.insert_only_publication)
                   WHERE r.prrelid = rel AND s.capture <> 'Off')
$$;
REVOKE ALL ON FUNCTION pgmm.ddl_is_replicated(oid) FROM PUBLIC;

-- A new table that matches the Tables patterns joins its cluster's publication and, if it has a key, gets the
-- tombstone triggers (as ClusterInitializer does for the tables that exist at init). Run by the event trigger on the
-- node that created it, by pgmm.replicate_ddl, and by the link after it created the table on a target.
CREATE OR REPLACE FUNCTION pgmm.ddl_adopt_table_now(rel oid) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t record; m record; key text[]; args text; changed text;
BEGIN
    SELECT n.nspname::text AS schema_name, c.relname::text AS table_name, c.relkind, c.relpersistence,
           pg_catalog.pg_get_userbyid(c.relowner) AS owner
    INTO t FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = rel;
    IF NOT FOUND OR t.relkind <> 'r' OR t.relpersistence <> 'p' THEN RETURN; END IF;
    m := pgmm.ddl_matching_cluster(t.schema_name, t.table_name);
    IF m.cluster IS NULL THEN RETURN; END IF;
    IF NOT pgmm.ddl_is_replicated(rel) THEN
    BEGIN
        EXECUTE pg_catalog.format('ALTER PUBLICATION %I ADD TABLE %I.%I',
            (SELECT CASE WHEN m.insert_only THEN s.insert_only_publication ELSE s.publication END FROM pgmm.ddl_settings s WHERE s.cluster = m.cluster),
            t.schema_name, t.table_name);
    EXCEPTION WHEN insufficient_privilege THEN
        RAISE EXCEPTION 'pgmm: new table %.% matches the replicated tables, but pgmm''s role % may not add it to the publication',
            pg_catalog.quote_ident(t.schema_name), pg_catalog.quote_ident(t.table_name), current_user
            USING HINT = pg_catalog.format('Grant its owner to pgmm''s role (GRANT %I TO %I), or create it as a role pgmm''s role is a member of.', t.owner, current_user),
                  ERRCODE = 'insufficient_privilege';
    END;
    END IF;
    IF m.insert_only THEN RETURN; END IF;
    -- the key apply finds rows by: the replica identity index if there is one, else the primary key
    SELECT pg_catalog.array_agg(a.attname::text ORDER BY pg_catalog.array_position(i.indkey::int2[], a.attnum)) INTO key
    FROM pg_catalog.pg_index i JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
    JOIN pg_catalog.pg_class c ON c.oid = i.indrelid
    WHERE i.indrelid = rel AND (CASE WHEN c.relreplident = 'i' THEN i.indisreplident ELSE i.indisprimary END);
    IF key IS NULL OR EXISTS (SELECT 1 FROM pg_catalog.pg_trigger WHERE tgrelid = rel AND tgname = 'pgmm_tombstone') THEN RETURN; END IF;
    SELECT pg_catalog.string_agg(pg_catalog.quote_literal(k), ', '),
           pg_catalog.string_agg(pg_catalog.format('OLD.%1$I IS DISTINCT FROM NEW.%1$I', k), ' OR ')
    INTO args, changed FROM pg_catalog.unnest(key) k;
    EXECUTE pg_catalog.format('CREATE TRIGGER pgmm_tombstone AFTER DELETE ON %I.%I FOR EACH ROW EXECUTE FUNCTION pgmm.record_tombstone(%s)',
        t.schema_name, t.table_name, args);
    EXECUTE pg_catalog.format('CREATE TRIGGER pgmm_tombstone_key AFTER UPDATE ON %I.%I FOR EACH ROW WHEN (%s) EXECUTE FUNCTION pgmm.record_tombstone(%s)',
        t.schema_name, t.table_name, changed, args);
    EXECUTE pg_catalog.format('ALTER TABLE %I.%I ENABLE ALWAYS TRIGGER pgmm_tombstone, ENABLE ALWAYS TRIGGER pgmm_tombstone_key',
        t.schema_name, t.table_name);
END
$$;
REVOKE ALL ON FUNCTION pgmm.ddl_adopt_table_now(oid) FROM PUBLIC;

-- The publication and trigger commands of adopting fire the event triggers too: they are pgmm's, not the user's.
CREATE OR REPLACE FUNCTION pgmm.ddl_adopt_table(rel oid) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE was text := coalesce(pg_catalog.current_setting('pgmm.ddl', true), '');
BEGIN
    PERFORM pg_catalog.set_config('pgmm.ddl', 'adopting', true);
    PERFORM pgmm.ddl_adopt_table_now(rel);
    PERFORM pg_catalog.set_config('pgmm.ddl', was, true);
END
$$;
REVOKE ALL ON FUNCTION pgmm.ddl_adopt_table(oid) FROM PUBLIC;

-- Every table matching the patterns that no publication holds yet (after pgmm.replicate_ddl, which cannot see which
-- table its command created).
CREATE OR REPLACE FUNCTION pgmm.ddl_adopt_new_tables() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE rel oid;
BEGIN
    FOR rel IN SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
               WHERE c.relkind = 'r' AND c.relpersistence = 'p' AND n.nspname NOT IN ('pgmm', 'pg_catalog', 'information_schema')
                 AND (pgmm.ddl_matching_cluster(n.nspname, c.relname)).cluster IS NOT NULL AND NOT pgmm.ddl_is_replicated(c.oid)
    LOOP
        PERFORM pgmm.ddl_adopt_table(rel);
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION pgmm.ddl_adopt_new_tables() FROM PUBLIC;

-- Writes the captured command. Called by the event trigger and by pgmm.replicate_ddl; EXECUTE is granted to nobody:
-- the operator grants it to the role that runs migrations through pgmm.replicate_ddl (docs/configuration.md).
CREATE OR REPLACE FUNCTION pgmm.ddl_record(command text, tag text, object text, caller_path text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    -- Set by the link while it applies a command: that command is the source's, not this node's.
    IF pg_catalog.current_setting('pgmm.ddl', true) = 'applying' THEN RETURN; END IF;
    IF NOT EXISTS (SELECT 1 FROM pgmm.ddl_settings WHERE capture <> 'Off') THEN
        RAISE EXCEPTION 'pgmm: DDL replication is off on this node (PgMultiMaster:Ddl:Capture = Off): run the command on every node yourself';
    END IF;
    INSERT INTO pgmm.ddl_log (command, search_path, role_name, tag, object, shape)
    VALUES (command, caller_path,
            -- inside SECURITY DEFINER, current_user is pgmm's role: the caller is the session's, or the one it SET ROLE to
            CASE WHEN pg_catalog.current_setting('role') = 'none' THEN session_user ELSE pg_catalog.current_setting('role') END,
            tag, object, CASE WHEN object IS NOT NULL THEN pgmm.ddl_table_shape(object) END);
    IF tag = 'pgmm.replicate_ddl' THEN PERFORM pgmm.ddl_adopt_new_tables(); END IF;
END
$$;
REVOKE ALL ON FUNCTION pgmm.ddl_record(text, text, text, text) FROM PUBLIC;

-- The explicit path, for roles that may not create event triggers (most managed services): runs the command with the
-- caller's own rights (SECURITY INVOKER), records it in the same transaction (pgmm.ddl_record, whose EXECUTE the
-- caller needs), and adopts a new table that matches the patterns.
CREATE OR REPLACE FUNCTION pgmm.replicate_ddl(command text) RETURNS void
LANGUAGE plpgsql SECURITY INVOKER AS $$
DECLARE why text;
BEGIN
    IF pgmm.ddl_statement_count(command) <> 1 THEN
        RAISE EXCEPTION 'pgmm.replicate_ddl takes one statement, not %', pgmm.ddl_statement_count(command)
            USING HINT = 'Call it once per statement, in one transaction if they belong together.';
    END IF;
    why := pgmm.ddl_refusal(command, pg_catalog.upper(pg_catalog.substring(pg_catalog.ltrim(command), '^\S+\s+\S+')));
    IF why IS NOT NULL THEN
        RAISE EXCEPTION 'pgmm: not replicated: %', why
            USING HINT = 'To change this node only, run it yourself with SET pgmm.ddl = ''local'', and so on every node.';
    END IF;
    -- The event trigger, if there is one, leaves this command to us.
    PERFORM pg_catalog.set_config('pgmm.ddl', 'function', true);
    EXECUTE command;
    PERFORM pg_catalog.set_config('pgmm.ddl', '', true);
    PERFORM pgmm.ddl_record(command, 'pgmm.replicate_ddl', NULL, pg_catalog.current_setting('search_path'));
END
$$;
-- Harmless on their own (the command runs with the caller's rights); recording needs EXECUTE on pgmm.ddl_record.
GRANT EXECUTE ON FUNCTION pgmm.replicate_ddl(text), pgmm.ddl_statement_count(text), pgmm.ddl_refusal(text, text) TO PUBLIC;

-- What the event trigger on ddl_command_end does (pgmm.ddl_capture), with the search_path the command ran with.
CREATE OR REPLACE FUNCTION pgmm.ddl_capture_end(event_tag text, caller_path text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    q text := pg_catalog.current_query();
    r record; rel oid; relname text; replicated boolean := false; object text; why text; flagged text;
BEGIN
    IF pg_catalog.current_setting('pgmm.ddl', true) IN ('local', 'applying', 'function', 'adopting')
       OR NOT EXISTS (SELECT 1 FROM pgmm.ddl_settings WHERE capture = 'EventTrigger') THEN
        RETURN;
    END IF;
    FOR r IN SELECT * FROM pg_catalog.pg_event_trigger_ddl_commands() WHERE NOT in_extension LOOP
        rel := CASE
            WHEN r.object_type = 'table' THEN r.objid
            WHEN r.object_type = 'index' THEN (SELECT indrelid FROM pg_catalog.pg_index WHERE indexrelid = r.objid)
            WHEN r.object_type = 'table column' THEN r.objid
            WHEN r.object_type = 'trigger' THEN (SELECT tgrelid FROM pg_catalog.pg_trigger WHERE oid = r.objid)
            WHEN r.object_type = 'policy' THEN (SELECT polrelid FROM pg_catalog.pg_policy WHERE oid = r.objid)
            WHEN r.object_type = 'rule' THEN (SELECT ev_class FROM pg_catalog.pg_rewrite WHERE oid = r.objid)
        END;
        IF r.object_type = 'type' AND EXISTS (
               SELECT 1 FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type ty ON ty.oid = a.atttypid
               WHERE (a.atttypid = r.objid OR ty.typelem = r.objid) AND NOT a.attisdropped AND pgmm.ddl_is_replicated(a.attrelid)) THEN
            replicated := true;
        ELSIF rel IS NOT NULL AND (pgmm.ddl_is_replicated(rel)
              OR r.command_tag = 'CREATE TABLE' AND r.object_type = 'table' AND (SELECT (pgmm.ddl_matching_cluster(n.nspname, c.relname)).cluster
                  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = rel) IS NOT NULL) THEN
            replicated := true;
            object := coalesce(object, (SELECT pg_catalog.format('%I.%I', n.nspname, c.relname)
                                       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = rel));
        END IF;
    END LOOP;
    IF NOT replicated THEN RETURN; END IF;

    IF event_tag NOT IN ('CREATE TABLE', 'ALTER TABLE', 'CREATE INDEX', 'ALTER TYPE', 'CREATE TABLE AS', 'SELECT INTO') THEN
        -- Flagged, not replicated: triggers, policies, comments, grants... stay on this node.
        RAISE WARNING 'pgmm: % on a replicated table is not replicated: run it on every node', event_tag;
        RETURN;
    END IF;
    why := pgmm.ddl_refusal(q, event_tag);
    IF why IS NULL AND pg_catalog.ltrim(pg_catalog.regexp_replace(q, '^(\s|--[^\n]*\n|/\*.*?\*/)*', '')) !~* '^(CREATE|ALTER)\M' THEN
        why := 'it ran inside a function or a DO block, and pgmm replicates the statement the client sent. Run the '
               || 'statement itself, or call pgmm.replicate_ddl';
    END IF;
    IF why IS NULL AND pgmm.ddl_statement_count(q) > 1 THEN
        why := 'the query string holds several statements, and only a whole string can be replicated: the others would run '
               || 'again on every node. Send one statement per query (psql -c sends them as one; psql -f does not)';
    END IF;
    IF why IS NOT NULL THEN
        RAISE EXCEPTION 'pgmm: % on a replicated table cannot replicate safely: %', event_tag, why
            USING HINT = 'To change this node only (and then every other node yourself): SET pgmm.ddl = ''local''.';
    END IF;
    -- A new table joins the publication (its key, if made by a later part of the statement, gets the triggers then).
    FOR rel IN SELECT objid FROM pg_catalog.pg_event_trigger_ddl_commands() WHERE command_tag = 'CREATE TABLE' AND object_type = 'table' LOOP
        PERFORM pgmm.ddl_adopt_table(rel);
    END LOOP;
    -- One statement fires this once for each part of it (CREATE TABLE with a primary key: an ALTER TABLE, then the
    -- CREATE TABLE): it is recorded once.
    flagged := pg_catalog.md5(q) || ' ' || pg_catalog.statement_timestamp()::text;
    IF pg_catalog.current_setting('pgmm.ddl_recorded', true) IS DISTINCT FROM flagged THEN
        PERFORM pg_catalog.set_config('pgmm.ddl_recorded', flagged, true);
        PERFORM pgmm.ddl_record(q, event_tag, object, caller_path);
    END IF;
END
$$;
REVOKE ALL ON FUNCTION pgmm.ddl_capture_end(text, text) FROM PUBLIC;

-- sql_drop: DROP TABLE and DROP INDEX (ALTER TABLE ... DROP COLUMN is recorded by ddl_command_end).
CREATE OR REPLACE FUNCTION pgmm.ddl_capture_dropped(event_tag text, caller_path text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    q text := pg_catalog.current_query();
    ours int; others int; object text;
BEGIN
    IF event_tag NOT IN ('DROP TABLE', 'DROP INDEX') OR pg_catalog.current_setting('pgmm.ddl', true) IN ('local', 'applying', 'function', 'adopting')
       OR NOT EXISTS (SELECT 1 FROM pgmm.ddl_settings WHERE capture = 'EventTrigger') THEN
        RETURN;
    END IF;
    -- A dropped table's publication membership is already gone: its name must match the patterns. A dropped index's
    -- table is not known any more: one in a schema of replicated tables counts.
    SELECT pg_catalog.count(*) FILTER (WHERE m), pg_catalog.count(*) FILTER (WHERE NOT m), pg_catalog.min(identity) FILTER (WHERE m)
    INTO ours, others, object
    FROM (SELECT d.object_identity AS identity,
                 CASE WHEN d.object_type = 'table' THEN (pgmm.ddl_matching_cluster(d.schema_name, d.object_name)).cluster IS NOT NULL
                      ELSE EXISTS (SELECT 1 FROM pg_catalog.pg_publication_tables p JOIN pgmm.ddl_settings s ON p.pubname IN (s.publication, s.insert_only_publication)
                                   WHERE p.schemaname = d.schema_name) END AS m
          FROM pg_catalog.pg_event_trigger_dropped_objects() d
          WHERE d.original AND d.object_type = CASE event_tag WHEN 'DROP TABLE' THEN 'table' ELSE 'index' END) x;
    IF ours = 0 THEN RETURN; END IF;
    IF others > 0 OR pgmm.ddl_statement_count(q) > 1 OR q !~* '^(\s|--[^\n]*\n|/\*.*?\*/)*DROP\M' THEN
        RAISE EXCEPTION 'pgmm: % cannot replicate safely: it must drop replicated tables or indexes only, in one statement sent by the client', event_tag
            USING HINT = 'Drop the replicated ones in a statement of their own. To change this node only: SET pgmm.ddl = ''local''.';
    END IF;
    PERFORM pgmm.ddl_record(q, event_tag, CASE WHEN event_tag = 'DROP TABLE' THEN object END, caller_path);
END
$$;
REVOKE ALL ON FUNCTION pgmm.ddl_capture_dropped(text, text) FROM PUBLIC;

-- The event triggers' functions. Owned by pgmm's role and SECURITY DEFINER: they record into pgmm's table and adopt
-- new tables whatever role ran the command. They alone have no fixed search_path, because the one the command ran
-- with is what they must record (a SET clause would hide it): their one statement calls nothing but schema-qualified
-- functions, and everything else runs in functions that fix it. A trigger function needs no EXECUTE right to fire.
CREATE OR REPLACE FUNCTION pgmm.ddl_capture() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
    PERFORM pgmm.ddl_capture_end(tg_tag, pg_catalog.current_setting('search_path'));
END
$$;
REVOKE ALL ON FUNCTION pgmm.ddl_capture() FROM PUBLIC;

CREATE OR REPLACE FUNCTION pgmm.ddl_capture_drop() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
    PERFORM pgmm.ddl_capture_dropped(tg_tag, pg_catalog.current_setting('search_path'));
END
$$;
REVOKE ALL ON FUNCTION pgmm.ddl_capture_drop() FROM PUBLIC;

REVOKE ALL ON ALL TABLES IN SCHEMA pgmm FROM PUBLIC;
