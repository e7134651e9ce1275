using System.Diagnostics;
using Npgsql;
using PgMultiMaster.Diagnostics;
using PgMultiMaster.IntegrationTests.Harness;
using Xunit.Abstractions;

namespace PgMultiMaster.IntegrationTests;

/// <summary><c>pgmm diff --rows</c> finds exactly the keys that differ; <c>pgmm repair</c> fixes them without echo or conflicts.</summary>
[Collection(ServersCollection.Name)]
public sealed class RowRepairTests(ServersFixture servers, ITestOutputHelper output)
{
    private const string BigSchema = """
        CREATE TABLE big (id bigint PRIMARY KEY, grp int NOT NULL, payload text);
        CREATE TABLE pairs (a int, b text, v text, PRIMARY KEY (a, b));
        """;

    private const string BigRows = """
        INSERT INTO big SELECT g, g % 97, pg_catalog.md5(g::text) FROM pg_catalog.generate_series(1, 1000000) g;
        INSERT INTO pairs SELECT g / 10, 'k' || (g % 10), 'v' || g FROM pg_catalog.generate_series(0, 19999) g;
        ANALYZE big, pairs;
        """;

    [Fact]
    public async Task Diff_rows_finds_exactly_the_planted_differences_in_a_million_rows_and_repair_fixes_them()
    {
        // Data and differences first, then init: nothing planted is in any slot.
        await using var mesh = await Mesh.CreateAsync(servers, output, BigSchema, init: false);
        var (a, b, c) = (mesh.NodeNames[0], mesh.NodeNames[1], mesh.NodeNames[2]);
        await Task.WhenAll(mesh.NodeNames.Select(n => mesh.ExecAsync(n, BigRows)));
        await mesh.ExecAsync(b, "DELETE FROM big WHERE id = 123457");
        await mesh.ExecAsync(c, "UPDATE big SET payload = 'changed' WHERE id = 500000");
        await mesh.ExecAsync(c, "INSERT INTO big VALUES (2000000, 1, 'extra')");
        await mesh.ExecAsync(a, "DELETE FROM pairs WHERE a = 5 AND b = 'k5'");
        await mesh.ExecAsync(b, "UPDATE pairs SET v = 'other, with \"quotes\"' WHERE a = 1999 AND b = 'k9'");
        await mesh.InitAsync();
        var dir = PgmmCli.ConfigDir(mesh);

        var watch = Stopwatch.StartNew();
        var report = await RowDiff.ComputeAsync(mesh.Topology, [("public", "big"), ("public", "pairs")], new RowDiff.Settings(), CancellationToken.None);
        output.WriteLine($"row diff of 1,000,000 rows on {mesh.NodeNames.Count} nodes: {watch.Elapsed.TotalSeconds:0.00} s; " +
                         string.Join("; ", report.Tables.Select(t => $"{t.Table}: {t.RangesHashed} ranges hashed, {t.RowsFetched} rows fetched")));
        var big = report.Tables.Single(t => t.Table == "public.big");
        Assert.Equal(["123457", "500000", "2000000"], big.Differences.Select(d => d.Key.Values.Single()));
        Assert.Equal([DifferenceKind.Missing, DifferenceKind.Differs, DifferenceKind.Missing], big.Differences.Select(d => d.Kind));
        var pairs = report.Tables.Single(t => t.Table == "public.pairs");
        Assert.Equal(["5,k5", "1999,k9"], pairs.Differences.Select(d => string.Join(",", d.Key.Values)));
        Assert.True(big.RowsFetched < 20_000, $"fetched {big.RowsFetched} rows in full");

        watch.Restart();
        var (code, text) = await PgmmCli.RunAsync(dir, "diff", "--rows");
        output.WriteLine($"pgmm diff --rows: {watch.Elapsed.TotalSeconds:0.00} s\n{text}");
        Assert.Equal(1, code);
        Assert.Contains("public.big: 3 keys differ", text);
        Assert.Contains("id=123457", text);
        Assert.Contains("(a, b)=(1999, k9)", text);

        const string planted = "SELECT count(*) FILTER (WHERE id = 123457) || ' ' || count(*) FILTER (WHERE payload = 'changed') || ' ' || count(*) FILTER (WHERE id = 2000000) FROM big WHERE id IN (123457, 500000, 2000000)";
        var before = await Task.WhenAll(mesh.NodeNames.Select(n => mesh.ScalarAsync<string>(n, planted)));
        Assert.Equal(["1 0 0", "0 0 0", "1 1 1"], before);
        (code, text) = await PgmmCli.RunAsync(dir, "repair", "--table", "public.big", "--from", a, "--dry-run");
        output.WriteLine(text);
        Assert.Equal(0, code);
        Assert.Contains($"would insert id=123457 on {b}", text);
        Assert.Contains($"would update id=500000 on {c}", text);
        Assert.Contains($"would delete id=2000000 on {c}", text);
        Assert.Equal(before, await Task.WhenAll(mesh.NodeNames.Select(n => mesh.ScalarAsync<string>(n, planted))));
        Assert.Equal(0L, await mesh.ScalarAsync<long>(b, "SELECT count(*) FROM pgmm.repair_log"));

        (code, text) = await PgmmCli.RunAsync(dir, "repair", "--table", "big", "--from", a);
        output.WriteLine(text);
        Assert.Equal(0, code);
        Assert.Contains("public.big: made 3 changes (1 insert, 1 update, 1 delete)", text);
        (code, text) = await PgmmCli.RunAsync(dir, "repair", "--table", "public.pairs", "--from", a);
        output.WriteLine(text);
        Assert.Equal(0, code);
        Assert.Contains($"delete (a, b)=(5, k5) on {b}", text);

        const string logged = "SELECT key::text || ' ' || action FROM pgmm.repair_log WHERE table_name = 'public.big' ORDER BY id";
        Assert.Equal(["{123457} insert"], await mesh.RowsAsync(b, logged));
        Assert.Equal(["{500000} update", "{2000000} delete"], await mesh.RowsAsync(c, logged));
        Assert.Empty(await mesh.RowsAsync(a, logged));
        Assert.True(await mesh.ScalarAsync<bool>(c, "SELECT payload = md5(id::text) FROM big WHERE id = 500000"));
        Assert.Equal(0, (await PgmmCli.RunAsync(dir, "diff")).Code);
        (code, text) = await PgmmCli.RunAsync(dir, "diff", "--rows");
        Assert.True(code == 0, text);
        Assert.Contains("All rows of 2 tables match on all 3 nodes.", text);
    }

    [Fact]
    public async Task Repair_with_running_workers_sends_nothing_on_and_logs_no_conflict()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output, """
            CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, qty int NOT NULL);
            """);
        var (a, b, c) = (mesh.NodeNames[0], mesh.NodeNames[1], mesh.NodeNames[2]);
        await mesh.ExecAsync(a, "INSERT INTO items SELECT g, 'item ' || g, g FROM generate_series(1, 5000) g");
        await mesh.StartAllWorkersAsync();
        await mesh.AssertConvergedAsync();
        await mesh.StopWorkerAsync(a);
        await mesh.StopWorkerAsync(b);
        await mesh.StopWorkerAsync(c);

        // Lost changes, planted the way an applied change looks (under a peer's origin, which the links skip as echo):
        // b lost a row, c has a stale version of another, and b kept a row a deleted.
        await PlantAsync(mesh, b, a, "DELETE FROM items WHERE id = 10");
        await PlantAsync(mesh, c, a, "UPDATE items SET qty = -1 WHERE id = 20");
        await PlantAsync(mesh, a, b, "DELETE FROM items WHERE id = 30");
        await PlantAsync(mesh, c, b, "DELETE FROM items WHERE id = 30");
        await mesh.StartAllWorkersAsync();
        await mesh.WaitForCatchUpAsync();
        var dir = PgmmCli.ConfigDir(mesh);
        var (code, text) = await PgmmCli.RunAsync(dir, "diff", "--rows", "--table", "public.items");
        output.WriteLine(text);
        Assert.Equal(1, code);
        Assert.Contains("public.items: 3 keys differ", text);

        var conflicts = await ConflictCountsAsync(mesh);
        var echoes = mesh.NodeNames.ToDictionary(n => n, n => mesh.LinkStatuses(n).Sum(s => s.TransactionsSkippedAsEcho));
        (code, text) = await PgmmCli.RunAsync(dir, "repair", "--table", "public.items", "--from", a);
        output.WriteLine(text);
        Assert.Equal(0, code);
        Assert.Contains("made 3 changes (1 insert, 1 update, 1 delete)", text);

        // The repaired nodes' links decoded the repair and skipped it; nothing reached a peer as a change.
        await Mesh.WaitUntilAsync(async () =>
        {
            await mesh.WaitForCatchUpAsync();
            return mesh.LinkStatuses(b).Sum(s => s.TransactionsSkippedAsEcho) > echoes[b]
                   && mesh.LinkStatuses(c).Sum(s => s.TransactionsSkippedAsEcho) > echoes[c];
        }, "the repaired nodes' links to skip the repair as echo");
        await mesh.AssertConvergedAsync();
        Assert.Equal(conflicts, await ConflictCountsAsync(mesh));
        Assert.Equal(0, (await PgmmCli.RunAsync(dir, "diff", "--rows")).Code);

        // Repair's delete leaves a tombstone, as a replicated delete would (so a later re-insert of 30 is an
        // insert_deleted conflict on every node, as after any delete).
        Assert.Equal(1L, await mesh.ScalarAsync<long>(b, "SELECT count(*) FROM pgmm.tombstone WHERE key = '{\"id\": 30}'"));

        // Later writes to the repaired rows replicate as usual and meet no conflict.
        await mesh.ExecAsync(a, "UPDATE items SET qty = qty + 100 WHERE id = 10");
        await mesh.ExecAsync(c, "UPDATE items SET qty = qty + 100 WHERE id = 20");
        await mesh.AssertConvergedAsync();
        Assert.Equal(conflicts, await ConflictCountsAsync(mesh));
    }

    [Fact]
    public async Task Diff_rows_compares_whole_rows_of_a_table_without_a_key()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output, """
            CREATE TABLE bag (x int, y text);
            ALTER TABLE bag REPLICA IDENTITY FULL;
            INSERT INTO bag SELECT g % 50, 'y' || (g % 7) FROM generate_series(1, 3000) g;
            """, init: false);
        var (a, b) = (mesh.NodeNames[0], mesh.NodeNames[1]);
        await mesh.ExecAsync(b, "INSERT INTO bag VALUES (1, 'y1'), (NULL, NULL)");
        await mesh.ExecAsync(a, "DELETE FROM bag WHERE ctid = (SELECT ctid FROM bag WHERE x = 3 LIMIT 1)");
        await mesh.InitAsync();
        var report = await RowDiff.ComputeAsync(mesh.Topology, [("public", "bag")], new RowDiff.Settings(), CancellationToken.None);
        var bag = report.Tables.Single();
        output.WriteLine(report.Render());
        Assert.Equal(["(,)", "(1,y1)", "(3,y3)"], bag.Differences.Select(d => d.Key.Values.Single()).Order(StringComparer.Ordinal));
        var copies = bag.Differences.Single(d => d.Key.Values[0] == "(1,y1)").PerNode.Select(v => v?.Copies).ToList();
        Assert.Equal(copies[0] + 1, copies[1]);
        var repair = await PgmmCli.RunAsync(PgmmCli.ConfigDir(mesh), "repair", "--table", "public.bag", "--from", a);
        Assert.Equal(1, repair.Code);
        Assert.Contains("has no key", repair.Output);
    }

    /// <summary>Writes on <paramref name="node"/> as if the change had come from <paramref name="from"/>: no link sends it on.</summary>
    private static async Task PlantAsync(Mesh mesh, string node, string from, string sql)
    {
        // Not pooled: the session keeps the origin until it ends.
        await using var conn = await Mesh.OpenAsync(new NpgsqlConnectionStringBuilder(mesh.Node(node).ConnectionString) { Pooling = false }.ConnectionString, default);
        await using (var setup = new NpgsqlCommand("SELECT pg_replication_origin_session_setup($1)", conn))
        {
            setup.Parameters.Add(new NpgsqlParameter { Value = mesh.Topology.OriginName(from) });
            await setup.ExecuteNonQueryAsync();
        }
        await using var cmd = new NpgsqlCommand(sql, conn);
        Assert.Equal(1, await cmd.ExecuteNonQueryAsync());
    }

    private static async Task<List<long>> ConflictCountsAsync(Mesh mesh)
    {
        var counts = new List<long>();
        foreach (var n in mesh.NodeNames) counts.Add(await mesh.ScalarAsync<long>(n, "SELECT count(*) FROM pgmm.conflict_log"));
        return counts;
    }
}
