using PgMultiMaster.IntegrationTests.Harness;
using Xunit.Abstractions;

namespace PgMultiMaster.IntegrationTests;

/// <summary>
/// TRUNCATE is applied like PostgreSQL's own apply does it: exactly the replicated tables it names, RESTRICT. One the
/// target refuses is parked for a person; the stream goes on.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class TruncateTests(ServersFixture servers, ITestOutputHelper output)
{
    private const string Schema = """
        CREATE TABLE public.parent (id int PRIMARY KEY);
        CREATE TABLE public.child (id int PRIMARY KEY, parent_id int REFERENCES public.parent (id));
        CREATE TABLE public.staging (id int PRIMARY KEY);
        """;

    [Fact]
    public async Task A_truncate_cascade_never_reaches_a_table_the_target_does_not_replicate_and_is_parked_instead()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output, Schema, nodes: 2, configure: o => o.Tables = ["public.parent", "public.child"]);
        await mesh.StartAllWorkersAsync();
        await mesh.ExecAsync("east", "INSERT INTO parent SELECT generate_series(1, 5); INSERT INTO child VALUES (1, 1)");
        await mesh.WaitForCatchUpAsync();
        // West's own notes about the replicated rows: not replicated, and not to be touched by east's TRUNCATE ... CASCADE.
        await mesh.ExecAsync("west", "CREATE TABLE public.local_notes (id int, parent_id int REFERENCES public.parent (id)); " +
                                     "INSERT INTO local_notes SELECT g, 1 + g % 5 FROM generate_series(1, 50) g");

        await mesh.ExecAsync("east", "TRUNCATE parent CASCADE");
        await mesh.ExecAsync("east", "INSERT INTO parent VALUES (100)");
        await mesh.WaitForCatchUpAsync();

        Assert.Equal(50L, await mesh.ScalarAsync<long>("west", "SELECT count(*) FROM local_notes"));
        Assert.Equal(6L, await mesh.ScalarAsync<long>("west", "SELECT count(*) FROM parent"));   // the stream went on: 100 arrived
        var (code, text) = await PgmmCli.RunAsync(PgmmCli.ConfigDir(mesh), "dead-letter", "list", "--on", "west");
        Assert.Equal(0, code);
        Assert.Contains("truncate", text);
        Assert.Equal(["truncate | public.parent, public.child | False"],
            await mesh.RowsAsync("west", "SELECT operation, table_name, retryable FROM pgmm.dead_letter"));
        Assert.StartsWith("0A000: cannot truncate a table referenced in a foreign key constraint",
            await mesh.ScalarAsync<string>("west", "SELECT reason FROM pgmm.dead_letter"));
    }

    [Fact]
    public async Task A_parked_truncate_retried_by_hand_runs_once_the_target_lets_it()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output, Schema, nodes: 2, configure: o => o.Tables = ["public.parent", "public.child"]);
        await mesh.StartAllWorkersAsync();
        await mesh.ExecAsync("east", "INSERT INTO parent SELECT generate_series(1, 5)");
        await mesh.WaitForCatchUpAsync();
        await mesh.ExecAsync("west", "CREATE TABLE public.local_notes (parent_id int REFERENCES public.parent (id)); INSERT INTO local_notes VALUES (1)");
        await mesh.ExecAsync("east", "TRUNCATE parent, child");
        await Mesh.WaitUntilAsync(async () => await mesh.ScalarAsync<long>("west", "SELECT count(*) FROM pgmm.dead_letter") == 1, "the truncate to be parked");

        await mesh.ExecAsync("west", "DROP TABLE local_notes");
        var id = (await mesh.RowsAsync("west", "SELECT id FROM pgmm.dead_letter")).Single();
        var (code, text) = await PgmmCli.RunAsync(PgmmCli.ConfigDir(mesh), "dead-letter", "retry", "--on", "west", "--id", id, "--wait");
        Assert.True(code == 0, text);
        await mesh.AssertConvergedAsync();
        Assert.Equal(0L, await mesh.ScalarAsync<long>("west", "SELECT count(*) FROM parent"));
    }

    [Fact]
    public async Task Truncates_of_tables_listed_under_NoTruncateTables_stay_on_their_node()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output, Schema, nodes: 2, configure: o => o.NoTruncateTables = ["public.stag*"]);
        await mesh.StartAllWorkersAsync();
        await mesh.ExecAsync("east", "INSERT INTO staging SELECT generate_series(1, 3); INSERT INTO parent VALUES (1)");
        await mesh.WaitForCatchUpAsync();
        await mesh.ExecAsync("east", "TRUNCATE staging, child, parent");
        await mesh.WaitForCatchUpAsync();

        Assert.Equal(3L, await mesh.ScalarAsync<long>("west", "SELECT count(*) FROM staging"));
        Assert.Equal(0L, await mesh.ScalarAsync<long>("west", "SELECT count(*) FROM parent"));
        Assert.Equal(0L, await mesh.ScalarAsync<long>("west", "SELECT count(*) FROM pgmm.dead_letter"));
    }
}
