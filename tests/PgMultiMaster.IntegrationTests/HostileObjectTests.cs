using PgMultiMaster.IntegrationTests.Harness;
using Xunit.Abstractions;

namespace PgMultiMaster.IntegrationTests;

/// <summary>
/// Nothing another role creates where pgmm looks runs with pgmm's rights: every session on a safe search_path, every
/// call qualified, the tombstone trigger with a search_path of its own (<see cref="ProductionMesh"/>).
/// </summary>
[Collection(SecureServersCollection.Name)]
public sealed class HostileObjectTests(SecureServersFixture servers, ITestOutputHelper output)
{
    /// <summary>
    /// What a role that may create objects in <c>public</c> (every role, before PostgreSQL 15) can leave for pgmm: functions
    /// and an operator with the names and argument types pgmm uses, which record who called them. With the database's
    /// search_path putting public first they win over pg_catalog's for anyone who does not qualify the call.
    /// </summary>
    private static string Traps(string hostile) => $"""
        GRANT CREATE ON SCHEMA public TO {hostile};
        SET ROLE {hostile};
        CREATE TABLE public.hijacked (fn text, by_role text);
        GRANT INSERT ON public.hijacked TO PUBLIC;
        CREATE FUNCTION public.current_setting(text) RETURNS text LANGUAGE sql AS
          $$ INSERT INTO public.hijacked VALUES ('current_setting', current_user) RETURNING pg_catalog.current_setting($1) $$;
        CREATE FUNCTION public.set_config(text, text, boolean) RETURNS text LANGUAGE sql AS
          $$ INSERT INTO public.hijacked VALUES ('set_config', current_user) RETURNING pg_catalog.set_config($1, $2, $3) $$;
        CREATE FUNCTION public.clock_timestamp() RETURNS timestamptz LANGUAGE sql AS
          $$ INSERT INTO public.hijacked VALUES ('clock_timestamp', current_user) RETURNING pg_catalog.clock_timestamp() $$;
        CREATE FUNCTION public.pg_current_wal_lsn() RETURNS pg_lsn LANGUAGE sql AS
          $$ INSERT INTO public.hijacked VALUES ('pg_current_wal_lsn', current_user) RETURNING pg_catalog.pg_current_wal_lsn() $$;
        CREATE FUNCTION public.pg_current_wal_flush_lsn() RETURNS pg_lsn LANGUAGE sql AS
          $$ INSERT INTO public.hijacked VALUES ('pg_current_wal_flush_lsn', current_user) RETURNING pg_catalog.pg_current_wal_flush_lsn() $$;
        CREATE FUNCTION public.to_jsonb(anyelement) RETURNS jsonb LANGUAGE sql AS
          $$ INSERT INTO public.hijacked VALUES ('to_jsonb', current_user) RETURNING pg_catalog.to_jsonb($1) $$;
        CREATE FUNCTION public.jsonb_build_object(text, integer) RETURNS jsonb LANGUAGE sql AS
          $$ INSERT INTO public.hijacked VALUES ('jsonb_build_object', current_user) RETURNING pg_catalog.jsonb_build_object($1, $2) $$;
        CREATE FUNCTION public.to_regclass(text) RETURNS regclass LANGUAGE sql AS
          $$ INSERT INTO public.hijacked VALUES ('to_regclass', current_user) RETURNING pg_catalog.to_regclass($1) $$;
        CREATE FUNCTION public.int_eq(integer, integer) RETURNS boolean LANGUAGE sql AS
          $$ INSERT INTO public.hijacked VALUES ('=', current_user) RETURNING $1 OPERATOR(pg_catalog.=) $2 $$;
        CREATE OPERATOR public.= (LEFTARG = integer, RIGHTARG = integer, FUNCTION = public.int_eq);
        CREATE FUNCTION public.jsonb_concat(jsonb, jsonb) RETURNS jsonb LANGUAGE sql AS
          $$ INSERT INTO public.hijacked VALUES ('||', current_user) RETURNING $1 OPERATOR(pg_catalog.||) $2 $$;
        CREATE OPERATOR public.|| (LEFTARG = jsonb, RIGHTARG = jsonb, FUNCTION = public.jsonb_concat);
        RESET ROLE;
        """;

    [Fact]
    public async Task Functions_and_operators_planted_in_public_never_run_with_pgmms_rights()
    {
        await using var prod = await ProductionMesh.CreateAsync(servers, output, """
            CREATE TABLE public.accounts (id int PRIMARY KEY, owner text NOT NULL, balance int NOT NULL);
            INSERT INTO public.accounts SELECT g, 'seed', 0 FROM generate_series(1, 20) g;
            """, nodes: 2, configure: o => o.Tables = ["public.accounts"]);
        var mesh = prod.Mesh;
        var hostile = mesh.Database + "_hostile";
        foreach (var node in mesh.NodeNames)
        {
            await mesh.AdminExecAsync(node, $"CREATE ROLE {hostile} LOGIN; ALTER DATABASE {mesh.Database} SET search_path = public, pg_catalog;");
            await mesh.AdminExecAsync(node, Traps(hostile));
        }
        // Only west refuses negative balances: east's change meets an error there, is replayed change by change and parked.
        await mesh.AdminExecAsync("west", "ALTER TABLE accounts ADD CONSTRAINT positive CHECK (balance >= 0) NOT VALID");

        // The traps work: an ordinary session that does not qualify its calls runs them.
        await Mesh.ExecOnAsync(prod.AppConnectionString("east"), "SELECT jsonb_build_object('a', 1), current_setting('TimeZone') WHERE 1 = 1");
        Assert.Equal("=, current_setting, jsonb_build_object", await mesh.AdminScalarAsync<string>("east",
            "SELECT string_agg(DISTINCT fn, ', ' ORDER BY fn) FROM public.hijacked WHERE by_role = $1", prod.AppRole));

        var (code, text) = await prod.PgmmAsync("check");
        Assert.True(code == 0, text);
        (code, text) = await prod.PgmmAsync("init");
        Assert.True(code == 0, text);
        // Conflicts, tombstones, key changes and a parked change, while the workers are away; then they catch up.
        await Mesh.ExecOnAsync(prod.AppConnectionString("east"), """
            UPDATE accounts SET balance = balance + 1 WHERE id <= 10;
            DELETE FROM accounts WHERE id = 11;
            UPDATE accounts SET id = 100 WHERE id = 12;
            UPDATE accounts SET balance = -5 WHERE id = 13;
            """);
        await Mesh.ExecOnAsync(prod.AppConnectionString("west"), "UPDATE accounts SET balance = balance + 2 WHERE id <= 5; UPDATE accounts SET owner = 'west' WHERE id = 11");
        foreach (var node in mesh.NodeNames) mesh.StartWorkerProcess(node);
        await mesh.WaitForCatchUpAsync();
        await Mesh.WaitUntilAsync(async () => await mesh.AdminScalarAsync<long>("west", "SELECT count(*) FROM pgmm.dead_letter") == 1, "the change west refuses to be parked");

        foreach (var args in new[] { ["status"], ["diff"], ["conflicts"], ["dead-letter", "list"], ["dead-letter", "show", "--on", "west", "--id", "1"] , new[] { "dead-letter", "discard", "--all" } })
        {
            (code, text) = await prod.PgmmAsync(args);
            output.WriteLine($"pgmm {string.Join(' ', args)}: exit {code}\n{text}");
        }
        Assert.True(await mesh.AdminScalarAsync<long>("west", "SELECT count(*) FROM pgmm.conflict_log") > 0, "no conflict was made");
        await mesh.StopWorkerProcessesAsync();
        (code, text) = await prod.PgmmAsync("uninstall", "--yes");
        Assert.True(code == 0, text);

        foreach (var node in mesh.NodeNames)
            Assert.Equal("", await mesh.AdminScalarAsync<string>(node,
                "SELECT coalesce(string_agg(DISTINCT fn, ', ' ORDER BY fn), '') FROM public.hijacked WHERE by_role = $1", prod.PgmmRole));
    }

}
