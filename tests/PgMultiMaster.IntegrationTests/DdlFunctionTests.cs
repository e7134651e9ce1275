using Npgsql;
using PgMultiMaster.IntegrationTests.Harness;
using Xunit.Abstractions;

namespace PgMultiMaster.IntegrationTests;

/// <summary>
/// Schema changes without a superuser (<c>Ddl:Capture = Function</c>, the default): a migration role the operator allowed
/// runs them through <c>pgmm.replicate_ddl</c> (or <c>pgmm ddl</c>), pgmm's role is the least-privileged one of
/// docs/security.md, and the application's role may write rows only.
/// </summary>
[Collection(SecureServersCollection.Name)]
public sealed class DdlFunctionTests(SecureServersFixture servers, ITestOutputHelper output)
{
    [Fact]
    public async Task A_migration_role_without_superuser_replicates_its_changes_through_pgmm_replicate_ddl()
    {
        await using var prod = await ProductionMesh.CreateAsync(servers, output, "CREATE TABLE public.items (id bigint PRIMARY KEY, v text);", nodes: 2);
        var mesh = prod.Mesh;
        var (code, text) = await prod.PgmmAsync("init");
        Assert.True(code == 0, text);
        var workers = mesh.NodeNames.ToDictionary(n => n, n => mesh.StartWorkerProcess(n));

        // The operator's part (docs/configuration.md): a login role that may act as the tables' owner, and the owner
        // allowed to record schema changes. The grants on pgmm's objects are made by pgmm's own role.
        var migrator = mesh.Database + "_migrator";
        foreach (var node in mesh.NodeNames)
        {
            await mesh.AdminExecAsync(node, $"CREATE ROLE {migrator} LOGIN PASSWORD '{ProductionMesh.Password}' IN ROLE {prod.OwnerRole}; " +
                                            $"GRANT CREATE ON SCHEMA public TO {prod.OwnerRole}");
            await mesh.ExecAsync(node, $"GRANT USAGE ON SCHEMA pgmm TO {prod.OwnerRole}; " +
                                       $"GRANT EXECUTE ON FUNCTION pgmm.ddl_record(text, text, text, text) TO {prod.OwnerRole}");
        }
        var migration = servers.ConnectionString(servers["east"], mesh.Database, migrator, ProductionMesh.Password);
        await Mesh.ExecOnAsync(migration, $"""
            SET ROLE {prod.OwnerRole};
            BEGIN;
            SELECT pgmm.replicate_ddl('ALTER TABLE items ADD COLUMN note text');
            SELECT pgmm.replicate_ddl('CREATE TABLE public.extra (id int PRIMARY KEY, item bigint)');
            INSERT INTO extra VALUES (1, 1);
            COMMIT;
            """);
        await Mesh.ExecOnAsync(prod.AppConnectionString("east"), "INSERT INTO items VALUES (1, 'a', 'uses the new column')");

        // The verb, on the other node, as the owner, once the column is there.
        await Mesh.WaitUntilAsync(async () => await mesh.AdminScalarAsync<long>("west",
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'items' AND column_name = 'note'") == 1, "the column on west");
        (code, text) = await prod.PgmmAsync("ddl", "CREATE INDEX items_note ON items (note)", "--node", "west", "--role", prod.OwnerRole);
        Assert.True(code == 0, text);
        (code, text) = await prod.PgmmAsync("ddl", "ALTER TABLE items RENAME COLUMN note TO remark", "--node", "west");
        Assert.Equal(1, code);
        Assert.Contains("node 'west': pgmm: not replicated: a rename cannot replicate while other nodes write", text);

        // The application's role may not record anything: what other nodes run comes from pgmm's table only.
        var denied = await Assert.ThrowsAsync<PostgresException>(() => Mesh.ExecOnAsync(prod.AppConnectionString("east"),
            "SELECT pgmm.ddl_record('DROP TABLE public.items', 'x', NULL, 'public')"));
        Assert.Equal("42501", denied.SqlState);

        await mesh.AssertConvergedAsync();
        Assert.Equal("uses the new column", await mesh.AdminScalarAsync<string>("west", "SELECT note FROM items WHERE id = 1"));
        Assert.Equal(1L, await mesh.AdminScalarAsync<long>("west", "SELECT count(*) FROM extra"));
        Assert.Equal(prod.OwnerRole, await mesh.AdminScalarAsync<string>("west", "SELECT tableowner::text FROM pg_tables WHERE tablename = 'extra'"));
        Assert.Equal(1L, await mesh.AdminScalarAsync<long>("east", "SELECT count(*) FROM pg_indexes WHERE indexname = 'items_note'"));
        foreach (var node in mesh.NodeNames)
        {
            Assert.Equal(0L, await mesh.AdminScalarAsync<long>(node, "SELECT count(*) FROM pgmm.dead_letter"));
            Assert.Equal(2L, await mesh.AdminScalarAsync<long>(node, "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'public.extra'::regclass AND tgname LIKE 'pgmm_tombstone%'"));
        }

        // A role allowed to record, which pgmm's role may not act as, records a statement it never ran: on west it does
        // not run with pgmm's rights instead. The link stops, and the table stays.
        var stranger = mesh.Database + "_stranger";
        foreach (var node in mesh.NodeNames)
        {
            await mesh.AdminExecAsync(node, $"CREATE ROLE {stranger} LOGIN PASSWORD '{ProductionMesh.Password}'");
            await mesh.ExecAsync(node, $"GRANT USAGE ON SCHEMA pgmm TO {stranger}; GRANT EXECUTE ON FUNCTION pgmm.ddl_record(text, text, text, text) TO {stranger}");
        }
        await Mesh.ExecOnAsync(servers.ConnectionString(servers["east"], mesh.Database, stranger, ProductionMesh.Password),
            "SELECT pgmm.ddl_record('DROP TABLE public.items', 'pgmm.replicate_ddl', NULL, 'public')");
        await Mesh.WaitUntilAsync(() => Task.FromResult(workers["east"].Output.Contains("the schema change from node 'east' cannot be applied on node 'west'", StringComparison.Ordinal)),
            "the link east->west to stop");
        Assert.Contains($"DROP TABLE public.items failed there with 42501: permission denied to set role \"{stranger}\"", workers["east"].Output);
        Assert.Equal(1L, await mesh.AdminScalarAsync<long>("west", "SELECT count(*) FROM public.items"));
    }

    [Fact]
    public async Task Event_triggers_chosen_for_a_role_that_may_not_create_them_make_init_name_the_statements_a_superuser_runs()
    {
        await using var prod = await ProductionMesh.CreateAsync(servers, output, "CREATE TABLE public.items (id bigint PRIMARY KEY);", nodes: 2,
            configure: o => o.Ddl.Capture = PgMultiMaster.Configuration.DdlCapture.EventTrigger);
        var (code, text) = await prod.PgmmAsync("init");
        Assert.Equal(2, code);
        Assert.Contains("node 'east': PgMultiMaster:Ddl:Capture is EventTrigger, but pgmm's role may not create event triggers", text);
        Assert.Contains(PgMultiMaster.Setup.DdlSetup.EventTriggerSql, text);
        (code, text) = await prod.PgmmAsync("check");
        Assert.Equal(2, code);
        Assert.Contains("the event triggers are missing", text);

        // Everything else is in place: the superuser's two statements, then init again.
        foreach (var node in prod.Mesh.NodeNames) await prod.Mesh.AdminExecAsync(node, PgMultiMaster.Setup.DdlSetup.EventTriggerSql);
        (code, text) = await prod.PgmmAsync("init");
        Assert.True(code == 0, text);
        // The owner's migration is captured, with pgmm's rights only inside pgmm's functions.
        await prod.Mesh.AdminExecAsync("east", $"SET ROLE {prod.OwnerRole}; ALTER TABLE public.items ADD COLUMN note text");
        Assert.Equal(prod.OwnerRole, await prod.Mesh.AdminScalarAsync<string>("east", "SELECT role_name FROM pgmm.ddl_log"));
    }
}
