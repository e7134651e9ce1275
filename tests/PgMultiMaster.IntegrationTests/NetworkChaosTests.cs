using System.Globalization;
using PgMultiMaster.IntegrationTests.Harness;
using Xunit.Abstractions;

namespace PgMultiMaster.IntegrationTests;

/// <summary>
/// Seeded network chaos: a 3-node mesh whose workers (real <c>pgmm run</c> processes) reach every server through a
/// <see cref="FaultProxy"/>, while every node writes into the ledger. Random faults of every kind hit random
/// worker-server paths: cuts, connections closed mid-stream, lost replies to COMMIT, latency, half-open connections
/// and partitions. Then everything heals; after catch-up every committed row must be on every node exactly once.
/// <para>CI runs a few seeds. Long mode: PGMM_FAULT_SEEDS=100. Replay one seed: PGMM_FAULT_SEED=1234 dotnet test
/// --filter Randomized_network_faults. PGMM_FAULT_SECONDS sets how long the faults go on (20 by default).</para>
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class NetworkChaosTests(ServersFixture servers, ITestOutputHelper output)
{
    private static readonly TimeSpan DeadConnectionTimeout = TimeSpan.FromSeconds(3);

    public static TheoryData<int> Seeds()
    {
        var data = new TheoryData<int>();
        if (Environment.GetEnvironmentVariable("PGMM_FAULT_SEED") is { } one)
        {
            data.Add(int.Parse(one, CultureInfo.InvariantCulture));
            return data;
        }
        var count = int.Parse(Environment.GetEnvironmentVariable("PGMM_FAULT_SEEDS") ?? "2", CultureInfo.InvariantCulture);
        for (var i = 0; i < count; i++) data.Add(2000 + i * 7919);
        return data;
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public async Task Randomized_network_faults_lose_nothing_and_duplicate_nothing(int seed)
    {
        var seconds = int.Parse(Environment.GetEnvironmentVariable("PGMM_FAULT_SECONDS") ?? "20", CultureInfo.InvariantCulture);
        output.WriteLine($"seed {seed}, {seconds}s of faults; replay: PGMM_FAULT_SEED={seed} dotnet test --filter Randomized_network_faults");
        await using var mesh = await Mesh.CreateAsync(servers, output, Ledger.Schema, configure: o =>
        {
            Ledger.Configure(o);
            o.Apply.DeadConnectionTimeout = DeadConnectionTimeout;
            o.Apply.MaxRetryDelay = TimeSpan.FromSeconds(1);
        });
        await using var network = FaultNetwork.Route(mesh);
        var workers = mesh.NodeNames.ToDictionary(n => n, n => mesh.StartWorkerProcess(n));
        var ledger = new Ledger();
        try
        {
            await mesh.WaitForCatchUpAsync();
            using (var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds)))
            {
                var writers = mesh.NodeNames.SelectMany((node, i) => new[] { 0, 1 }.Select(w =>
                    WriteAsync(mesh, ledger, node, new Random(seed * 31 + i * 2 + w), stop.Token)));
                var chaos = ChaosAsync(mesh, network, new Random(seed), stop.Token);
                await Task.WhenAll(writers.Append(chaos));
            }
            network.HealAll();
            await mesh.WaitForCatchUpAsync(TimeSpan.FromSeconds(180));
            var rows = await ledger.AssertExactlyOnceEverywhereAsync(mesh);
            foreach (var (node, worker) in workers) Assert.False(worker.HasExited, $"the worker of {node} exited:\n{worker.Output}");
            var injected = network.Injected();
            Assert.True(injected.Values.Sum() > 0, "no fault was injected: the test tested nothing");
            output.WriteLine($"seed {seed}: faults injected {string.Join(", ", injected.Select(f => $"{f.Key} {f.Value}"))}; " +
                             $"{ledger.Committed} rows committed, {rows} rows checked on {mesh.NodeNames.Count} nodes: lost 0, duplicated 0");
        }
        catch
        {
            output.WriteLine($"seed {seed}: faults injected {string.Join(", ", network.Injected().Select(f => $"{f.Key} {f.Value}"))}");
            // What each worker said is the way to tell a stuck link from a slow one.
            foreach (var (node, worker) in workers)
                output.WriteLine($"--- worker of {node} (last lines) ---\n" + string.Join('\n', worker.Output.Split('\n').TakeLast(80)));
            throw;
        }
    }

    /// <summary>Transactions of one row mostly, some of up to 50, now and then one larger than Apply:BatchSize.</summary>
    private static async Task WriteAsync(Mesh mesh, Ledger ledger, string node, Random random, CancellationToken stop)
    {
        await using var conn = await Mesh.OpenAsync(mesh.Node(node).ConnectionString, CancellationToken.None);
        while (!stop.IsCancellationRequested)
        {
            var dice = random.Next(100);
            var rows = dice < 80 ? 1 : dice < 98 ? random.Next(2, 51) : random.Next(2_001, 4_001);
            // Never cancelled half-way: the writer must know whether it committed.
            await ledger.WriteAsync(conn, node, rows, CancellationToken.None);
            await Task.Delay(random.Next(0, 30), CancellationToken.None);
        }
    }

    /// <summary>
    /// Every 0.2-1.5 s a fault on a random path between a worker and a server, healed after a random while (a proxy
    /// heals all its faults at once). On the worker's own node run its replication streams (and its status and
    /// housekeeping sessions); on the others its apply sessions.
    /// </summary>
    private async Task ChaosAsync(Mesh mesh, FaultNetwork network, Random random, CancellationToken stop)
    {
        var heals = new List<Task>();
        var nodes = mesh.NodeNames;
        while (!stop.IsCancellationRequested)
        {
            await Task.Delay(random.Next(200, 1500), CancellationToken.None);
            var (worker, server) = (nodes[random.Next(nodes.Count)], nodes[random.Next(nodes.Count)]);
            var proxy = network[worker, server];
            var kind = worker == server && random.Next(3) > 0 ? ConnectionKind.Replication : ConnectionKind.Normal;
            var fault = (NetworkFault)random.Next(Enum.GetValues<NetworkFault>().Length);
            var heal = TimeSpan.Zero;
            switch (fault)
            {
                case NetworkFault.Cut:
                    proxy.Cut(refuse: random.Next(2) == 0);
                    heal = TimeSpan.FromMilliseconds(random.Next(200, 3000));
                    break;
                case NetworkFault.CloseMidStream:
                    proxy.CloseOne(kind, random);
                    break;
                case NetworkFault.DropCommitReply:
                    // Apply sessions run on the paths to the other nodes.
                    var others = nodes.Where(n => n != worker).ToList();
                    proxy = network[worker, server != worker ? server : others[random.Next(others.Count)]];
                    proxy.DropNextCommitReply("pgmm apply");
                    heal = TimeSpan.FromMilliseconds(random.Next(500, 5000));
                    break;
                case NetworkFault.Latency:
                    proxy.SetLatency(TimeSpan.FromMilliseconds(random.Next(10, 200)));
                    heal = TimeSpan.FromMilliseconds(random.Next(1000, 5000));
                    break;
                case NetworkFault.HalfOpen:
                    proxy.HalfOpen(kind, newConnectionsToo: random.Next(5) == 0);
                    heal = DeadConnectionTimeout * (0.3 + random.NextDouble() * 2);
                    break;
            }
            output.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} {fault} on {proxy.Name}{(fault is NetworkFault.CloseMidStream or NetworkFault.HalfOpen ? $" ({kind})" : "")}" +
                             (heal > TimeSpan.Zero ? $", healed after {heal.TotalSeconds:0.0}s" : ""));
            if (heal > TimeSpan.Zero) heals.Add(Task.Delay(heal, CancellationToken.None).ContinueWith(_ => proxy.Heal(), TaskScheduler.Default));
        }
        await Task.WhenAll(heals);
    }
}
