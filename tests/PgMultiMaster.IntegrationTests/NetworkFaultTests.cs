using System.Diagnostics;
using PgMultiMaster.Configuration;
using PgMultiMaster.IntegrationTests.Harness;
using PgMultiMaster.Replication;
using Xunit.Abstractions;

namespace PgMultiMaster.IntegrationTests;

/// <summary>
/// One network fault at a time between the workers and the servers (<see cref="FaultProxy"/>), under writes on both
/// nodes: every committed row arrives exactly once on the other node, and the links recover by themselves.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class NetworkFaultTests(ServersFixture servers, ITestOutputHelper output)
{
    private static readonly TimeSpan DeadConnectionTimeout = TimeSpan.FromSeconds(4);

    private async Task<(Mesh Mesh, FaultNetwork Network)> StartAsync()
    {
        var mesh = await Mesh.CreateAsync(servers, output, Ledger.Schema, nodes: 2, configure: o =>
        {
            Ledger.Configure(o);
            o.Apply.DeadConnectionTimeout = DeadConnectionTimeout;
            o.Apply.MaxRetryDelay = TimeSpan.FromMilliseconds(500);
        });
        var network = FaultNetwork.Route(mesh);
        await mesh.StartAllWorkersAsync();
        return (mesh, network);
    }

    /// <summary>Both nodes write one small transaction after another until stopped.</summary>
    private static Task WriteUntilAsync(Mesh mesh, Ledger ledger, CancellationToken stop) =>
        Task.WhenAll(mesh.NodeNames.Select(async node =>
        {
            await using var conn = await mesh.OpenAsync(node);
            while (!stop.IsCancellationRequested)
            {
                await ledger.WriteAsync(conn, node, 1);
                await Task.Delay(20, CancellationToken.None);
            }
        }));

    private LinkStatus EastToWest(Mesh mesh) => mesh.LinkStatuses("east").Single(s => s.Name == "east->west");

    private async Task FinishAsync(Mesh mesh, FaultNetwork network, Ledger ledger)
    {
        network.HealAll();
        await mesh.WaitForCatchUpAsync();
        var rows = await ledger.AssertExactlyOnceEverywhereAsync(mesh);
        output.WriteLine($"faults injected: {string.Join(", ", network.Injected().Select(f => $"{f.Key} {f.Value}"))}; {rows} rows checked, none lost, none twice");
    }

    [Fact]
    public async Task A_cut_network_that_refuses_connections_for_a_while_loses_nothing_and_the_link_resumes()
    {
        var (mesh, network) = await StartAsync();
        await using var _ = mesh;
        await using var __ = network;
        var ledger = new Ledger();
        using var stop = new CancellationTokenSource();
        var writing = WriteUntilAsync(mesh, ledger, stop.Token);
        await Mesh.WaitUntilAsync(async () => await mesh.ScalarAsync<long>("west", "SELECT count(*) FROM journal WHERE node = 'east'") >= 20, "east's rows on west");

        var retries = EastToWest(mesh).Retries;
        network["east", "east"].Cut(refuse: true);
        network["east", "west"].Cut(refuse: true);
        // The link keeps trying, and is refused each time.
        await Mesh.WaitUntilAsync(() => Task.FromResult(EastToWest(mesh).Retries >= retries + 3), "east->west to retry while refused");
        var healed = DateTime.UtcNow;
        network.HealAll();
        await Mesh.WaitUntilAsync(() => Task.FromResult(network["east", "east"].StartedSince(healed, ConnectionKind.Replication, "pgmm stream east->west") > 0),
            "a new replication connection once connections are accepted again");
        await stop.CancelAsync();
        await writing;

        await FinishAsync(mesh, network, ledger);
        Assert.Equal(2, network.Injected()[NetworkFault.Cut]);
    }

    [Fact]
    public async Task Connections_closed_in_the_middle_of_a_large_transaction_lose_nothing_and_apply_nothing_twice()
    {
        var (mesh, network) = await StartAsync();
        await using var _ = mesh;
        await using var __ = network;
        var ledger = new Ledger();
        await using var east = await mesh.OpenAsync("east");
        var random = new Random(1);

        // Each transaction is larger than Apply:BatchSize, so the target applies it in batches as it streams: the
        // close lands while the target transaction is open.
        foreach (var (kind, proxy, application) in new[]
                 {
                     (ConnectionKind.Replication, network["east", "east"], "pgmm stream east->west"),
                     (ConnectionKind.Normal, network["east", "west"], "pgmm apply east->west"),
                 })
        {
            var writing = ledger.WriteAsync(east, "east", 30_000);
            await Mesh.WaitUntilAsync(async () => await mesh.AdminScalarAsync<long>("west",
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgmm apply east->west' AND backend_xid IS NOT NULL") > 0,
                "west to be in the middle of applying the large transaction");
            var closed = DateTime.UtcNow;
            Assert.True(proxy.CloseOne(kind, random, application), $"no {kind} connection to close");
            await writing;
            await Mesh.WaitUntilAsync(() => Task.FromResult(proxy.StartedSince(closed, kind, application) > 0), $"a new {kind} connection after the close");
            await mesh.WaitForCatchUpAsync();
        }

        await FinishAsync(mesh, network, ledger);
        Assert.Equal(2, network.Injected()[NetworkFault.CloseMidStream]);
    }

    /// <summary>
    /// The COMMIT reaches the target, which commits, and its answer never comes back: the link reconnects, learns from
    /// the origin's progress that the transaction landed, and does not send it again. Once for a transaction sent
    /// alone, once for a pipeline of queued small ones, once for a transaction larger than a batch.
    /// </summary>
    [Fact]
    public async Task A_lost_reply_to_COMMIT_neither_loses_nor_repeats_the_transaction()
    {
        var (mesh, network) = await StartAsync();
        await using var _ = mesh;
        await using var __ = network;
        var ledger = new Ledger();
        await using var east = await mesh.OpenAsync("east");
        var proxy = network["east", "west"];

        foreach (var shape in new[] { "alone", "pipeline", "large" })
        {
            await mesh.WaitForCatchUpAsync();
            var armed = DateTime.UtcNow;
            proxy.DropNextCommitReply("pgmm apply east->west");
            switch (shape)
            {
                case "alone":
                    await ledger.WriteAsync(east, "east", 1);
                    break;
                case "pipeline":
                    // Many small transactions at once: the link queues them and sends them in one round trip.
                    var conns = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => mesh.OpenAsync("east")));
                    await Task.WhenAll(conns.Select(async c =>
                    {
                        for (var i = 0; i < 50; i++) await ledger.WriteAsync(c, "east", 1);
                        await c.DisposeAsync();
                    }));
                    break;
                case "large":
                    await ledger.WriteAsync(east, "east", 5_000);
                    break;
            }
            await Mesh.WaitUntilAsync(() => Task.FromResult(!proxy.CommitReplyDropArmed), $"the reply to a COMMIT ({shape}) to be dropped");
            await Mesh.WaitUntilAsync(() => Task.FromResult(proxy.StartedSince(armed, ConnectionKind.Normal, "pgmm apply east->west") > 0),
                "the link to reconnect after the lost reply");
        }

        await FinishAsync(mesh, network, ledger);
        Assert.Equal(3, network.Injected()[NetworkFault.DropCommitReply]);
    }

    [Fact]
    public async Task Latency_on_every_connection_slows_the_links_but_gives_no_connection_up()
    {
        var (mesh, network) = await StartAsync();
        await using var _ = mesh;
        await using var __ = network;
        var ledger = new Ledger();
        foreach (var proxy in network.Proxies) proxy.SetLatency(TimeSpan.FromMilliseconds(150));
        var retries = mesh.NodeNames.Sum(n => mesh.LinkStatuses(n).Sum(s => s.Retries));

        using var stop = new CancellationTokenSource(DeadConnectionTimeout * 3);
        await WriteUntilAsync(mesh, ledger, stop.Token);
        // A link waits 300 ms and more for each answer, yet no connection is taken for dead.
        await mesh.WaitForCatchUpAsync();

        Assert.Equal(retries, mesh.NodeNames.Sum(n => mesh.LinkStatuses(n).Sum(s => s.Retries)));
        await FinishAsync(mesh, network, ledger);
        Assert.Equal(4, network.Injected()[NetworkFault.Latency]);
    }

    /// <summary>
    /// The apply connection goes silent both ways without closing (no FIN, no RST). The worker notices within the
    /// configured bound, reconnects, ends the session the server still keeps (it holds the replication origin), and
    /// goes on — while the old connection is still held half-open.
    /// </summary>
    [Fact]
    public async Task A_half_open_apply_connection_is_given_up_within_the_timeout_and_the_link_goes_on()
    {
        var (mesh, network) = await StartAsync();
        await using var _ = mesh;
        await using var __ = network;
        await HalfOpenAsync(mesh, network, network["east", "west"], ConnectionKind.Normal, "pgmm apply east->west",
            // Noticed after waiting the timeout for an answer (sampled every quarter of it) and a probe; Npgsql waits
            // its Cancellation Timeout (2 s) for the cancelled command; then a back-off of up to 500 ms, ending the old
            // session and connecting: 4 s to spare on shared CI machines (without the watchdog it never happens).
            bound: DeadConnectionTimeout * 1.25 + TimeSpan.FromSeconds(6));
    }

    /// <summary>The same for the replication stream: no message for the timeout, and it is given up.</summary>
    [Fact]
    public async Task A_half_open_replication_connection_is_given_up_within_the_timeout_and_the_link_goes_on()
    {
        var (mesh, network) = await StartAsync();
        await using var _ = mesh;
        await using var __ = network;
        // Npgsql's read times out, it tries to cancel and waits its Cancellation Timeout (2 s); then as above, 4 s to
        // spare (without the timeout, Npgsql's default of 60 s applies).
        await HalfOpenAsync(mesh, network, network["east", "east"], ConnectionKind.Replication, "pgmm stream east->west",
            bound: DeadConnectionTimeout + TimeSpan.FromSeconds(6));
    }

    private async Task HalfOpenAsync(Mesh mesh, FaultNetwork network, FaultProxy proxy, ConnectionKind kind, string application, TimeSpan bound)
    {
        var ledger = new Ledger();
        using var stop = new CancellationTokenSource();
        var writing = WriteUntilAsync(mesh, ledger, stop.Token);
        await Mesh.WaitUntilAsync(async () => await mesh.ScalarAsync<long>("west", "SELECT count(*) FROM journal WHERE node = 'east'") >= 20, "east's rows on west");

        var frozenAt = DateTime.UtcNow;
        var clock = Stopwatch.StartNew();
        Assert.Equal(1, proxy.HalfOpen(kind, application));
        await Mesh.WaitUntilAsync(() => Task.FromResult(proxy.StartedSince(frozenAt, kind, application) > 0), $"a new {kind} connection", bound * 3);
        var noticed = clock.Elapsed;
        output.WriteLine($"the half-open {kind} connection was replaced after {noticed.TotalSeconds:0.0}s (bound {bound.TotalSeconds:0.0}s)");
        Assert.True(noticed <= bound, $"the half-open {kind} connection was replaced after {noticed}, beyond the bound {bound}");

        // East's rows written by now reach west while the old connection is still held half-open.
        var written = ledger.CommittedBy("east");
        await Mesh.WaitUntilAsync(async () => await mesh.ScalarAsync<long>("west", "SELECT count(*) FROM journal WHERE node = 'east'") >= written,
            "east's rows written since on west");
        Assert.Equal(1, proxy.FrozenCount(kind, application));
        Assert.Equal(1, proxy.Injected[NetworkFault.HalfOpen]);
        await stop.CancelAsync();
        await writing;
        await FinishAsync(mesh, network, ledger);
    }
}
