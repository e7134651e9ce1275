using Npgsql;
using PgMultiMaster.Configuration;
using PgMultiMaster.IntegrationTests.Harness;
using PgMultiMaster.Replication;
using Xunit.Abstractions;

namespace PgMultiMaster.IntegrationTests;

/// <summary>
/// Schema changes made on one node reach every other node at their place in the change stream (sql/009_ddl.sql,
/// Apply/DdlApplier): the rows written after a change find it applied, nothing is parked, and what cannot replicate
/// safely is refused or stops the links with a message instead of letting the nodes' schemas differ.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class DdlTests(ServersFixture servers, ITestOutputHelper output)
{
    private const string Schema = "CREATE TABLE public.items (id bigint PRIMARY KEY, node text NOT NULL, n int NOT NULL DEFAULT 0);";

    private static void EventTriggers(PgMultiMasterOptions o) => o.Ddl.Capture = DdlCapture.EventTrigger;

    [Fact]
    public async Task A_column_added_on_one_node_while_every_node_writes_arrives_before_the_rows_that_use_it()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output, Schema, configure: EventTriggers);
        await mesh.StartAllWorkersAsync();
        using var stop = new CancellationTokenSource();
        var writers = mesh.NodeNames.Select((node, i) => WriteAsync(mesh, node, i, stop.Token)).ToList();
        await Mesh.WaitUntilAsync(async () => await mesh.ScalarAsync<long>("east", "SELECT count(*) FROM items") > 30, "rows from every node");

        // The migration: a column (with its default in the same statement), an index, and rows that use the column at
        // once, one of them in the transaction of the change itself.
        await mesh.ExecAsync("east", "ALTER TABLE items ADD COLUMN note text DEFAULT 'none'");
        await mesh.ExecAsync("east", "BEGIN; CREATE INDEX items_note ON items (note); INSERT INTO items (id, node, note) VALUES (-1, 'east', 'same transaction'); COMMIT;");
        await mesh.ExecAsync("east", "INSERT INTO items (id, node, note) SELECT -g, 'east', 'after' FROM generate_series(2, 50) g");
        foreach (var node in new[] { "west", "north" })
            await Mesh.WaitUntilAsync(async () => await mesh.ScalarAsync<long>(node,
                "SELECT count(*) FROM information_schema.columns WHERE table_name = 'items' AND column_name = 'note'") == 1, $"the column on {node}");
        await mesh.ExecAsync("west", "INSERT INTO items (id, node, note) SELECT -g, 'west', 'from west' FROM generate_series(1000, 1049) g");
        await mesh.ExecAsync("north", "UPDATE items SET note = 'seen on north' WHERE id = -1");
        await stop.CancelAsync();
        await Task.WhenAll(writers);

        await mesh.AssertConvergedAsync();
        foreach (var node in mesh.NodeNames)
        {
            Assert.Equal(0L, await mesh.ScalarAsync<long>(node, "SELECT count(*) FROM pgmm.dead_letter"));
            Assert.Equal("seen on north", await mesh.ScalarAsync<string>(node, "SELECT note FROM items WHERE id = -1"));
            Assert.Equal(100L, await mesh.ScalarAsync<long>(node, "SELECT count(*) FROM items WHERE note IN ('after', 'from west', 'seen on north')"));
            Assert.Equal(1L, await mesh.ScalarAsync<long>(node, "SELECT count(*) FROM pg_indexes WHERE indexname = 'items_note'"));
        }
        await AssertSameColumnsAsync(mesh, "items");
        await mesh.WaitForStreamingAsync();
    }

    [Fact]
    public async Task Rows_that_overtake_a_schema_change_through_a_third_node_wait_for_it_instead_of_being_parked()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output, Schema, configure: EventTriggers);
        await mesh.StartAllWorkersAsync();
        // A reader on west holds the table: east's change waits there, while north gets it at once.
        await using var reader = await mesh.OpenAsync("west");
        await using (var hold = new NpgsqlCommand("BEGIN; SELECT count(*) FROM items", reader)) await hold.ExecuteNonQueryAsync();
        await mesh.ExecAsync("east", "ALTER TABLE items ADD COLUMN note text");
        await Mesh.WaitUntilAsync(async () => await mesh.ScalarAsync<long>("north",
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'items' AND column_name = 'note'") == 1, "the column on north");
        await mesh.ExecAsync("north", "INSERT INTO items VALUES (1, 'north', 1, 'written after the change')");
        var northToWest = mesh.LinkStatuses("north").Single(l => l.Target == "west");
        await Mesh.WaitUntilAsync(() => Task.FromResult(northToWest.LastError?.Contains("Waiting up to", StringComparison.Ordinal) == true),
            "north->west to wait for the column");
        await using (var release = new NpgsqlCommand("COMMIT", reader)) await release.ExecuteNonQueryAsync();

        await mesh.AssertConvergedAsync();
        Assert.Equal("written after the change", await mesh.ScalarAsync<string>("west", "SELECT note FROM items WHERE id = 1"));
        Assert.Equal(0L, await mesh.ScalarAsync<long>("west", "SELECT count(*) FROM pgmm.dead_letter"));
    }

    [Fact]
    public async Task A_table_created_on_one_node_replicates_from_its_first_row_and_later_changes_to_it_follow()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output, Schema + "CREATE TYPE public.mood AS ENUM ('calm');", nodes: 2, configure: EventTriggers);
        await mesh.StartAllWorkersAsync();

        // Created, filled and indexed in one transaction, then filled more.
        await mesh.ExecAsync("east", "BEGIN; CREATE TABLE public.orders (id int PRIMARY KEY, qty int DEFAULT 1); " +
                                     "INSERT INTO orders SELECT g, g FROM generate_series(1, 10) g; COMMIT;");
        await mesh.ExecAsync("east", "INSERT INTO orders (id) SELECT generate_series(11, 20)");
        await mesh.WaitForCatchUpAsync();
        Assert.Equal(20L, await mesh.ScalarAsync<long>("west", "SELECT count(*) FROM orders"));
        // West replicates it too: its own changes of the new table (and their deletes' tombstones) reach east.
        Assert.Equal(2L, await mesh.ScalarAsync<long>("west", "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'public.orders'::regclass AND tgname LIKE 'pgmm_tombstone%'"));
        await mesh.ExecAsync("west", "DELETE FROM orders WHERE id <= 5; ALTER TABLE orders ALTER COLUMN qty SET DEFAULT 7");
        await mesh.ExecAsync("west", "INSERT INTO orders (id) VALUES (100)");
        await mesh.WaitForCatchUpAsync(); // a column dropped on east while west still changes it would stop the links
        await mesh.ExecAsync("east", "ALTER TABLE orders DROP COLUMN qty");
        await mesh.ExecAsync("east", "INSERT INTO orders VALUES (101)");
        await mesh.AssertConvergedAsync();
        Assert.Equal(17L, await mesh.ScalarAsync<long>("east", "SELECT count(*) FROM orders"));
        await AssertSameColumnsAsync(mesh, "orders");

        // An enum value added on one node is usable on the other once it arrives.
        await mesh.ExecAsync("east", "ALTER TABLE items ADD COLUMN mood public.mood");
        await mesh.ExecAsync("east", "ALTER TYPE public.mood ADD VALUE 'busy'");
        await mesh.ExecAsync("east", "INSERT INTO items VALUES (1, 'east', 1, 'busy')");
        await mesh.ExecAsync("west", "DROP TABLE orders");
        await mesh.AssertConvergedAsync();
        Assert.Equal("busy", await mesh.ScalarAsync<string>("west", "SELECT mood::text FROM items WHERE id = 1"));
        Assert.Equal(0L, await mesh.ScalarAsync<long>("east", "SELECT count(*) FROM pg_class WHERE relname = 'orders'"));
        foreach (var node in mesh.NodeNames)
            Assert.Equal(0L, await mesh.ScalarAsync<long>(node, "SELECT count(*) FROM pgmm.dead_letter"));
    }

    [Fact]
    public async Task A_transaction_with_a_schema_change_and_a_row_the_target_refuses_is_replayed_change_by_change_with_the_change_applied()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output, Schema, nodes: 2, configure: EventTriggers);
        // West alone refuses large n: a local rule, not replicated.
        await mesh.ExecAsync("west", "SET pgmm.ddl = 'local'; ALTER TABLE items ADD CONSTRAINT small CHECK (n < 1000)");
        await mesh.StartAllWorkersAsync();
        await mesh.ExecAsync("east", "BEGIN; ALTER TABLE items ADD COLUMN extra int DEFAULT 5; " +
                                     "INSERT INTO items VALUES (1, 'east', 5000, 1), (2, 'east', 1, 2); COMMIT;");
        await mesh.ExecAsync("east", "INSERT INTO items VALUES (3, 'east', 1, 3)");
        await mesh.WaitForCatchUpAsync();

        Assert.Equal(["2 | 2", "3 | 3"], await mesh.RowsAsync("west", "SELECT id, extra FROM items ORDER BY id"));
        Assert.Equal(["1"], await mesh.RowsAsync("west", "SELECT count(*) FROM pgmm.dead_letter WHERE reason LIKE '23514%'"));
        await mesh.WaitForStreamingAsync("east");
    }

    [Fact]
    public async Task Renames_type_changes_and_multi_statement_strings_are_refused_with_the_way_to_do_it()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output, Schema, nodes: 2, configure: EventTriggers);

        var rename = await Assert.ThrowsAsync<PostgresException>(() => mesh.ExecAsync("east", "ALTER TABLE items RENAME COLUMN n TO amount"));
        Assert.Contains("ALTER TABLE on a replicated table cannot replicate safely: a rename", rename.MessageText);
        Assert.Contains("Expand and contract instead", rename.MessageText);
        var type = await Assert.ThrowsAsync<PostgresException>(() => mesh.ExecAsync("east", "ALTER TABLE items ALTER COLUMN n TYPE bigint"));
        Assert.Contains("a column's type cannot change", type.MessageText);
        // A string of several statements (the simple query protocol, as psql -c sends it) would run its other statements
        // again on every node; DDL inside a function or a DO block is not the statement the client sent.
        var (code, error) = await PsqlAsync(mesh, "east", "ALTER TABLE items ADD COLUMN x int; INSERT INTO items VALUES (1, 'east')");
        Assert.True(code != 0 && error.Contains("several statements", StringComparison.Ordinal), error);
        var inDo = await Assert.ThrowsAsync<PostgresException>(() => mesh.ExecAsync("east", "DO $$ BEGIN ALTER TABLE public.items ADD COLUMN x int; END $$"));
        Assert.Contains("inside a function or a DO block", inDo.MessageText);
        Assert.Equal(0L, await mesh.ScalarAsync<long>("east", "SELECT count(*) FROM information_schema.columns WHERE table_name = 'items' AND column_name IN ('amount', 'x')"));

        // An operator who knows: this node only, nothing recorded.
        await mesh.ExecAsync("east", "BEGIN; SET LOCAL pgmm.ddl = 'local'; ALTER TABLE items RENAME COLUMN n TO amount; COMMIT;");
        Assert.Equal(0L, await mesh.ScalarAsync<long>("east", "SELECT count(*) FROM pgmm.ddl_log"));
    }

    [Fact]
    public async Task The_same_column_added_on_two_nodes_at_once_is_applied_once_and_different_ones_stop_both_links_with_what_differs()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output, Schema, nodes: 2, configure: EventTriggers);
        // Both nodes change their schema before either hears of the other's change.
        await mesh.ExecAsync("east", "ALTER TABLE items ADD COLUMN same int");
        await mesh.ExecAsync("west", "ALTER TABLE items ADD COLUMN same int");
        await mesh.ExecAsync("east", "ALTER TABLE items ADD COLUMN c int");
        await mesh.ExecAsync("west", "ALTER TABLE items ADD COLUMN c text");
        await mesh.ExecAsync("east", "INSERT INTO items VALUES (1, 'east', 1, 1, 1)");
        await mesh.StartAllWorkersAsync();

        var links = mesh.NodeNames.SelectMany(mesh.LinkStatuses).ToList();
        await Mesh.WaitUntilAsync(() => Task.FromResult(links.All(l => l.State == LinkState.Failed)), "both links to stop");
        var eastToWest = links.Single(l => l.Source == "east").LastError!;
        Assert.Contains("the schema change from node 'east' cannot be applied on node 'west': ALTER TABLE items ADD COLUMN c int failed there with 42701", eastToWest);
        Assert.Contains("column c is integer on 'east' but text on 'west'", eastToWest);
        Assert.Contains("Way out:", eastToWest);
        Assert.Contains("column c is text on 'west' but integer on 'east'", links.Single(l => l.Source == "west").LastError!);
        // Nothing silently parked or applied past the change.
        foreach (var node in mesh.NodeNames)
            Assert.Equal(0L, await mesh.ScalarAsync<long>(node, "SELECT count(*) FROM pgmm.dead_letter"));
        Assert.Equal(0L, await mesh.ScalarAsync<long>("west", "SELECT count(*) FROM items"));

        await Mesh.WaitUntilAsync(async () => (await PgmmCli.RunAsync(PgmmCli.ConfigDir(mesh), "status")).Output.Contains("cannot be applied on node 'west'", StringComparison.Ordinal),
            "pgmm status to show the stopped link");
        var (code, text) = await PgmmCli.RunAsync(PgmmCli.ConfigDir(mesh), "status");
        output.WriteLine(text);
        Assert.Equal(1, code);
    }

    /// <summary>Runs <paramref name="sql"/> with psql -c: several statements go to the server as one query string.</summary>
    private static async Task<(int Code, string Error)> PsqlAsync(Mesh mesh, string node, string sql)
    {
        var cs = new NpgsqlConnectionStringBuilder(mesh.Node(node).ConnectionString);
        // PostgreSQL 18's npm binaries have no psql; Debian's postgresql package (scripts/ensure-postgres.sh) brings one.
        var psqlPath = (Directory.Exists("/usr/lib/postgresql") ? Directory.GetFiles("/usr/lib/postgresql", "psql", SearchOption.AllDirectories) : [])
            .Order().LastOrDefault() ?? "psql";
        var psi = new System.Diagnostics.ProcessStartInfo(psqlPath, ["-v", "ON_ERROR_STOP=1", "-X", "-c", sql])
        {
            RedirectStandardError = true, RedirectStandardOutput = true,
            Environment = { ["PGHOST"] = cs.Host, ["PGPORT"] = cs.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
                            ["PGDATABASE"] = cs.Database, ["PGUSER"] = cs.Username, ["PGPASSWORD"] = cs.Password ?? "" },
        };
        using var psql = System.Diagnostics.Process.Start(psi)!;
        var error = await psql.StandardError.ReadToEndAsync();
        await psql.WaitForExitAsync();
        return (psql.ExitCode, error);
    }

    private static async Task WriteAsync(Mesh mesh, string node, int index, CancellationToken ct)
    {
        await using var conn = await Mesh.OpenAsync(mesh.Node(node).ConnectionString, CancellationToken.None);
        for (long i = 1; !ct.IsCancellationRequested; i++)
        {
            await using var cmd = new NpgsqlCommand("INSERT INTO items (id, node, n) VALUES ($1, $2, $3)", conn);
            cmd.Parameters.Add(new NpgsqlParameter { Value = index * 1_000_000L + i });
            cmd.Parameters.Add(new NpgsqlParameter { Value = node });
            cmd.Parameters.Add(new NpgsqlParameter { Value = (int)i });
            await cmd.ExecuteNonQueryAsync(CancellationToken.None);
            await Task.Delay(5, CancellationToken.None);
        }
    }

    private static async Task AssertSameColumnsAsync(Mesh mesh, string table)
    {
        const string Columns = "SELECT column_name || ' ' || data_type || ' ' || coalesce(column_default, '') FROM information_schema.columns " +
                               "WHERE table_schema = 'public' AND table_name = '{0}' ORDER BY column_name";
        var first = await mesh.RowsAsync(mesh.NodeNames[0], string.Format(System.Globalization.CultureInfo.InvariantCulture, Columns, table));
        foreach (var node in mesh.NodeNames.Skip(1))
            Assert.Equal(first, await mesh.RowsAsync(node, string.Format(System.Globalization.CultureInfo.InvariantCulture, Columns, table)));
    }
}
