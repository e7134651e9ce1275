using System.Globalization;
using Npgsql;
using PgMultiMaster.Configuration;
using PgMultiMaster.Diagnostics;
using PgMultiMaster.IntegrationTests.Harness;
using Xunit.Abstractions;

namespace PgMultiMaster.IntegrationTests;

/// <summary>
/// Seeded chaos: three nodes write inserts, updates (key changes too), deletes, re-inserts and counter increments
/// on a handful of hot keys at once, while workers are killed with SIGKILL and restarted. After quiescence every
/// node must hold the same rows and every counter the sum of all increments made anywhere.
/// <para>CI runs a few seeds. Long mode: PGMM_CONVERGENCE_SEEDS=50 PGMM_CONVERGENCE_OPS=3000.
/// Replay one seed: PGMM_SEED=1234 dotnet test --filter Randomized_concurrent.</para>
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class ConvergenceTests(ServersFixture servers, ITestOutputHelper output)
{
    private const string Schema = """
        CREATE TABLE public.hot (id int PRIMARY KEY, val text NOT NULL, writer text NOT NULL, n int NOT NULL DEFAULT 0);
        CREATE TABLE public.counters (id int PRIMARY KEY, total bigint NOT NULL);
        ALTER TABLE public.counters REPLICA IDENTITY FULL;
        """;

    private const int HotKeys = 8;
    private const int Counters = 4;

    public static TheoryData<int> Seeds()
    {
        var data = new TheoryData<int>();
        if (Environment.GetEnvironmentVariable("PGMM_SEED") is { } one)
        {
            data.Add(int.Parse(one, CultureInfo.InvariantCulture));
            return data;
        }
        var count = int.Parse(Environment.GetEnvironmentVariable("PGMM_CONVERGENCE_SEEDS") ?? "3", CultureInfo.InvariantCulture);
        for (var i = 0; i < count; i++) data.Add(1000 + i * 7919);
        return data;
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public async Task Randomized_concurrent_writes_with_killed_workers_converge_on_all_nodes(int seed)
    {
        var ops = int.Parse(Environment.GetEnvironmentVariable("PGMM_CONVERGENCE_OPS") ?? "1000", CultureInfo.InvariantCulture);
        output.WriteLine($"seed {seed}, {ops} operations per node; replay: PGMM_SEED={seed} dotnet test --filter Randomized_concurrent");
        await using var mesh = await Mesh.CreateAsync(servers, output, Schema, configure: o =>
        {
            o.Conflicts.Tables["public.counters"] = new TableConflictRule { Columns = { ["total"] = "Delta" } };
            o.Apply.MaxRetryDelay = TimeSpan.FromMilliseconds(500);
            o.Conflicts.RetryInterval = TimeSpan.FromMilliseconds(300);
        });
        await mesh.ExecAsync("east", $"INSERT INTO counters SELECT g, 0 FROM generate_series(1, {Counters}) g");
        // North refuses some of the others' rows and counts for a while: those changes are parked there, and retried
        // once the constraints go — after newer changes of the same rows have applied. The retries must still converge
        // (last writer wins by the original commit time; a Delta adds its increment), and leave nothing parked.
        await mesh.ExecAsync("north", """
            ALTER TABLE hot ADD CONSTRAINT no_sevens CHECK (writer = 'north' OR val NOT LIKE '%7') NOT VALID;
            ALTER TABLE counters ADD CONSTRAINT no_threes CHECK (total % 7 <> 3) NOT VALID;
            """);
        var workers = mesh.NodeNames.ToDictionary(n => n, n => mesh.StartWorkerProcess(n));
        await mesh.WaitForCatchUpAsync();

        var increments = new long[Counters + 1];
        var started = DateTime.UtcNow;
        using var stop = new CancellationTokenSource();
        var chaos = Task.Run(async () =>
        {
            var random = new Random(seed);
            while (!stop.IsCancellationRequested)
            {
                await Task.Delay(random.Next(100, 700));
                var node = mesh.NodeNames[random.Next(3)];
                workers[node].Kill();
                workers[node] = mesh.StartWorkerProcess(node);
                output.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} killed and restarted the worker of {node}");
            }
        });
        try
        {
            await Task.WhenAll(mesh.NodeNames.Select((node, i) => WriteAsync(mesh, node, new Random(seed * 31 + i), ops, increments)));
        }
        finally
        {
            await stop.CancelAsync();
            await chaos;
        }
        var writing = DateTime.UtcNow - started;
        // Everything has arrived, north's refusals parked. Retries drain parked changes as they go (most meet a newer
        // version and lose to it): the ids tell how many there were.
        await mesh.WaitForCatchUpAsync();
        var parked = await mesh.ScalarAsync<long>("north", "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM pgmm.dead_letter_id_seq");
        await mesh.ExecAsync("north", "ALTER TABLE hot DROP CONSTRAINT no_sevens; ALTER TABLE counters DROP CONSTRAINT no_threes");
        await Mesh.WaitUntilAsync(async () => await mesh.ScalarAsync<long>("north", "SELECT count(*) FROM pgmm.dead_letter") == 0,
            "the changes parked on north to be retried", TimeSpan.FromSeconds(90));

        ClusterDiff diff;
        try
        {
            diff = await mesh.AssertConvergedAsync();
        }
        catch
        {
            // What each worker said is the way to tell a stuck link from a slow one.
            foreach (var (node, worker) in workers)
                output.WriteLine($"--- worker of {node} (last lines) ---\n" + string.Join('\n', worker.Output.Split('\n').TakeLast(80)));
            throw;
        }
        foreach (var node in mesh.NodeNames)
            Assert.Equal(
                Enumerable.Range(1, Counters).Select(c => $"{c} | {increments[c]}").ToList(),
                await mesh.RowsAsync(node, "SELECT id, total FROM counters ORDER BY id"));
        long conflicts = 0;
        foreach (var node in mesh.NodeNames)
        {
            conflicts += await mesh.ScalarAsync<long>(node, "SELECT count(*) FROM pgmm.conflict_log");
            Assert.Equal(0L, await mesh.ScalarAsync<long>(node, "SELECT count(*) FROM pgmm.dead_letter"));
        }
        Assert.True(conflicts > 0, "hot keys written on three nodes at once produced no conflict: the test is not testing anything");
        Assert.True(parked > 0, "north never held a parked change: the retries of parked changes were not tested");
        output.WriteLine($"seed {seed}: {3 * ops} operations in {writing.TotalSeconds:0.0}s, {conflicts} conflicts resolved, {parked} changes parked and retried " +
                         $"({conflicts / writing.TotalSeconds:0.0}/s), {diff.Tables.Sum(t => t.PerNode[0]!.Rows)} rows, converged");
    }

    private async Task WriteAsync(Mesh mesh, string node, Random random, int ops, long[] increments)
    {
        await using var conn = await mesh.OpenAsync(node);
        for (var i = 0; i < ops; i++)
        {
            var key = random.Next(1, HotKeys + 1);
            var value = $"{node}-{i}";
            try
            {
                switch (random.Next(10))
                {
                    case 0 or 1:
                        await Exec(conn, "INSERT INTO hot VALUES ($1, $2, $3, 0) ON CONFLICT (id) DO UPDATE SET val = excluded.val, writer = excluded.writer", key, value, node);
                        break;
                    case 2 or 3 or 4:
                        await Exec(conn, "UPDATE hot SET val = $2, writer = $3, n = n + 1 WHERE id = $1", key, value, node);
                        break;
                    case 5:
                        await Exec(conn, "UPDATE hot SET id = $2, val = $3 WHERE id = $1", key, random.Next(1, HotKeys + 1) + HotKeys * random.Next(2), value);
                        break;
                    case 6:
                        await Exec(conn, "DELETE FROM hot WHERE id = $1", key);
                        break;
                    default:
                    {
                        var counter = random.Next(1, Counters + 1);
                        var delta = random.Next(-5, 20);
                        await Exec(conn, "UPDATE counters SET total = total + $2 WHERE id = $1", counter, (long)delta);
                        Interlocked.Add(ref increments[counter], delta);
                        break;
                    }
                }
            }
            catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.UniqueViolation or PostgresErrorCodes.CheckViolation)
            {
                // A key change onto a key that exists here, or a value north refuses for now: the application's own
                // error, nothing replicated.
            }
        }
    }

    private static async Task Exec(NpgsqlConnection conn, string sql, params object[] args)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        foreach (var a in args) cmd.Parameters.Add(new NpgsqlParameter { Value = a });
        await cmd.ExecuteNonQueryAsync();
    }
}
