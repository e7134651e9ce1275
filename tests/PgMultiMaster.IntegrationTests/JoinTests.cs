using System.Globalization;
using Npgsql;
using PgMultiMaster.Configuration;
using PgMultiMaster.IntegrationTests.Harness;
using Xunit.Abstractions;

namespace PgMultiMaster.IntegrationTests;

/// <summary>
/// <c>pgmm node add</c> while every node writes: conflicting updates of a few hot keys, counter increments under
/// <c>Delta</c> (one applied twice or lost changes the sum) and numbered rows of a keyless ledger (one applied twice
/// shows as a duplicate), with the workers killed and restarted during the join. Afterwards the three nodes hold the
/// same rows, and every counter the sum of every increment made anywhere.
/// <para>Seeded: PGMM_JOIN_SEEDS=20 runs more; PGMM_SEED=1234 replays one (the workload, not the timing).</para>
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class JoinTests(ServersFixture servers, ITestOutputHelper output)
{
    private const string Schema = """
        CREATE TABLE public.hot (id int PRIMARY KEY, val text NOT NULL, writer text NOT NULL, n int NOT NULL DEFAULT 0);
        CREATE TABLE public.counters (id int PRIMARY KEY, total bigint NOT NULL);
        ALTER TABLE public.counters REPLICA IDENTITY FULL;
        CREATE TABLE public.ledger (writer text NOT NULL, seq int NOT NULL);
        CREATE TABLE public.filler (id int PRIMARY KEY, v text);
        INSERT INTO public.hot SELECT g, 'v' || g, 'seed', 0 FROM generate_series(1, 8) g;
        INSERT INTO public.counters SELECT g, 0 FROM generate_series(1, 4) g;
        INSERT INTO public.filler SELECT g, md5(g::text) FROM generate_series(1, 100000) g;
        """;

    public static TheoryData<int> Seeds()
    {
        var data = new TheoryData<int>();
        if (Environment.GetEnvironmentVariable("PGMM_SEED") is { } one) data.Add(int.Parse(one, CultureInfo.InvariantCulture));
        else
            for (var i = 0; i < int.Parse(Environment.GetEnvironmentVariable("PGMM_JOIN_SEEDS") ?? "1", CultureInfo.InvariantCulture); i++)
                data.Add(2000 + i * 7919);
        return data;
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public async Task A_node_joins_while_every_node_writes_conflicting_changes_and_workers_are_killed_and_all_three_converge(int seed)
    {
        output.WriteLine($"seed {seed}; replay: PGMM_SEED={seed} dotnet test --filter A_node_joins");
        await using var mesh = await Mesh.CreateAsync(servers, output, Schema, init: false, configure: o =>
        {
            o.Conflicts.Tables["public.counters"] = new TableConflictRule { Columns = { ["total"] = "Delta" } };
            o.InsertOnlyTables = ["public.ledger"];
            o.Apply.MaxRetryDelay = TimeSpan.FromMilliseconds(500);
        });
        // north has the schema only.
        await mesh.AdminExecAsync("north", "TRUNCATE hot, counters, ledger, filler");
        var north = mesh.Node("north");
        mesh.Options.Nodes.Remove(north);
        await mesh.InitAsync();
        var config = PgmmCli.ConfigDir(mesh);
        var workers = new Dictionary<string, WorkerProcess> { ["east"] = mesh.StartWorkerProcess("east"), ["west"] = mesh.StartWorkerProcess("west") };

        var increments = new long[5];
        var ledger = new Dictionary<string, int>();
        using var stop = new CancellationTokenSource();
        Task Writer(string node, int writerSeed) => Task.Run(async () =>
        {
            var random = new Random(writerSeed);
            await using var conn = await mesh.OpenAsync(node);
            var seq = 0;
            while (!stop.IsCancellationRequested)
            {
                var (hot, counter, delta) = (random.Next(1, 9), random.Next(1, 5), random.Next(1, 10));
                await using var tx = await conn.BeginTransactionAsync();
                await using (var batch = new NpgsqlBatch(conn, tx))
                {
                    batch.BatchCommands.Add(new NpgsqlBatchCommand("UPDATE hot SET val = $1, writer = $2, n = n + 1 WHERE id = $3")
                        { Parameters = { new() { Value = $"{node}{seq}" }, new() { Value = node }, new() { Value = hot } } });
                    batch.BatchCommands.Add(new NpgsqlBatchCommand("UPDATE counters SET total = total + $1 WHERE id = $2")
                        { Parameters = { new() { Value = (long)delta }, new() { Value = counter } } });
                    batch.BatchCommands.Add(new NpgsqlBatchCommand("INSERT INTO ledger VALUES ($1, $2)") { Parameters = { new() { Value = node }, new() { Value = seq } } });
                    if (random.Next(4) == 0)
                        batch.BatchCommands.Add(new NpgsqlBatchCommand("UPDATE filler SET v = $1 WHERE id = $2")
                            { Parameters = { new() { Value = $"{node}{seq}" }, new() { Value = random.Next(1, 100001) } } });
                    await batch.ExecuteNonQueryAsync();
                }
                await tx.CommitAsync();
                Interlocked.Add(ref increments[counter], delta);
                lock (ledger) ledger[node] = ++seq;
                await Task.Delay(random.Next(0, 3));
            }
        });
        int Written(string node) { lock (ledger) return ledger.GetValueOrDefault(node); }

        var writers = new List<Task> { Writer("east", seed), Writer("west", seed + 1) };
        await Mesh.WaitUntilAsync(() => Task.FromResult(Written("east") > 50 && Written("west") > 50), "writes on east and west");

        // Workers killed and restarted while the node joins (the join waits for west's changes to reach east).
        using var chaosStop = new CancellationTokenSource();
        var chaos = Task.Run(async () =>
        {
            var random = new Random(seed);
            while (!chaosStop.IsCancellationRequested)
            {
                await Task.Delay(random.Next(1500, 3000), chaosStop.Token);
                var node = random.Next(2) == 0 ? "east" : "west";
                workers[node].Kill();
                workers[node] = mesh.StartWorkerProcess(node);
                output.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} killed and restarted the worker of {node}");
            }
        });
        var (code, text) = await PgmmCli.RunAsync(config, TimeSpan.FromMinutes(5), "node", "add", "north", "--from", "east", "--connection-string", north.ConnectionString, "--write-config");
        await chaosStop.CancelAsync();
        try { await chaos; } catch (OperationCanceledException) { /* stopped between two kills */ }
        output.WriteLine(text);
        Assert.True(code == 0, text);
        Assert.Matches(@"Node 'north' joined cluster '\w+' in [\d.]+ s: copied [\d,]+ rows", text);
        Assert.Contains("\"north\"", await File.ReadAllTextAsync(Path.Combine(config, "appsettings.json")));

        // The documented restart: north's worker starts, then the others restart one at a time with the configuration
        // that lists north. North writes too.
        mesh.Options.Nodes.Add(north);
        workers["north"] = mesh.StartWorkerProcess("north");
        writers.Add(Writer("north", seed + 2));
        foreach (var node in new[] { "east", "west" })
        {
            await workers[node].TerminateAsync(TimeSpan.FromSeconds(30));
            workers[node] = mesh.StartWorkerProcess(node);
        }
        var (east, west) = (Written("east"), Written("west"));
        await Mesh.WaitUntilAsync(() => Task.FromResult(Written("north") > 50 && Written("east") > east + 50 && Written("west") > west + 50), "writes on all three nodes");
        await stop.CancelAsync();
        await Task.WhenAll(writers);

        await mesh.WaitForCatchUpAsync(TimeSpan.FromMinutes(3));
        foreach (var node in mesh.NodeNames)
            output.WriteLine($"{node}: " + string.Join(", ", await mesh.RowsAsync(node,
                "SELECT writer, count(*), count(DISTINCT seq), min(seq) FILTER (WHERE dup), max(seq) FILTER (WHERE dup) FROM (SELECT writer, seq, count(*) OVER (PARTITION BY writer, seq) > 1 AS dup FROM ledger) l GROUP BY writer ORDER BY 1")));
        await mesh.AssertConvergedAsync(TimeSpan.FromMinutes(3));
        foreach (var node in mesh.NodeNames)
        {
            for (var c = 1; c <= 4; c++)
                Assert.Equal(increments[c], await mesh.AdminScalarAsync<long>(node, "SELECT total FROM counters WHERE id = $1", c));
            foreach (var writer in mesh.NodeNames)
            {
                // Every numbered row exactly once: none lost, none applied twice.
                var (rows, distinct) = (await mesh.AdminScalarAsync<long>(node, "SELECT count(*) FROM ledger WHERE writer = $1", writer),
                    await mesh.AdminScalarAsync<long>(node, "SELECT count(DISTINCT seq) FROM ledger WHERE writer = $1", writer));
                Assert.Equal((Written(writer), Written(writer)), ((int)rows, (int)distinct));
            }
            Assert.Equal(0L, await mesh.AdminScalarAsync<long>(node, "SELECT count(*) FROM pgmm.dead_letter"));
        }
        Assert.True(await mesh.AdminScalarAsync<long>("north", "SELECT count(*) FROM pgmm.conflict_log") +
                    await mesh.AdminScalarAsync<long>("east", "SELECT count(*) FROM pgmm.conflict_log") > 0, "the run made no conflicts");
        output.WriteLine($"written: east {Written("east")}, west {Written("west")}, north {Written("north")}");
    }
}
