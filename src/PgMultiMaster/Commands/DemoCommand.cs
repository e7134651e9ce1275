using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using PgMultiMaster.Cli.Commands.Demo;
using PgMultiMaster.Configuration;
using PgMultiMaster.Diagnostics;
using PgMultiMaster.Hosting;
using PgMultiMaster.LocalServers;
using PgMultiMaster.Replication;
using PgMultiMaster.Setup;
using PgMultiMaster.Topology;

namespace PgMultiMaster.Cli.Commands;

/// <summary>
/// <c>pgmm demo</c>: three local servers, the mesh initialized, concurrent writes on all nodes, then a checksum
/// table that shows whether every node holds the same data.
/// </summary>
internal static class DemoCommand
{
    private static readonly string[] NodeNames = ["east", "west", "north"];

    private const string Schema = """
        CREATE TYPE public.account_kind AS ENUM ('personal', 'business');
        CREATE TABLE public.accounts (
            id bigint PRIMARY KEY, owner text NOT NULL, kind public.account_kind NOT NULL,
            balance numeric(14,2) NOT NULL, tags text[], updated_at timestamptz NOT NULL);
        CREATE TABLE public."Order Items" (
            order_id uuid, line int, sku text NOT NULL, qty int NOT NULL, details jsonb,
            PRIMARY KEY (order_id, line));
        CREATE TABLE public.audit_log (at timestamptz NOT NULL DEFAULT now(), node text NOT NULL, message text NOT NULL);
        -- One account every node updates: concurrent updates of it are conflicts, resolved by last writer wins.
        INSERT INTO public.accounts VALUES (0, 'shared', 'business', 0, '{demo}', '2026-01-01');
        """;

    /// <summary>The node --fail-node stops: not east, whose worker serves the dashboard (its worker would go on anyway).</summary>
    private const string FailingNode = "north";

    public const int MinFailNodeSeconds = 6;

    /// <summary>The flags: --seconds, --port (0: a free one), --keep, --dir, --fail-node.</summary>
    public sealed record Settings(int Seconds, int Port, bool Keep, string? Dir, bool FailNode = false);

    public static async Task<int> RunAsync(Settings settings, CancellationToken ct)
    {
        var (seconds, port, keep) = (settings.Seconds, settings.Port, settings.Keep);
        // Stopping and starting a server take a second or two each: shorter, the writers would stop before the node is down.
        if (settings.FailNode && seconds < MinFailNodeSeconds)
            throw new CliException($"--fail-node needs --seconds {MinFailNodeSeconds} or more ({FailingNode} is stopped a third into the writing and stays down for another third).");
        // The demo only ever works in, re-owns (as root, for the servers' user) and removes a folder it created itself.
        var root = settings.Dir is { } dir ? Path.GetFullPath(dir) : Path.Combine(Path.GetTempPath(), $"pgmm-demo-{Guid.NewGuid():N}"[..30]);
        if (Directory.Exists(root) || File.Exists(root))
            throw new CliException($"--dir {root} already exists: give a path that does not exist yet; the demo creates it (and removes it at the end unless --keep).");
        Directory.CreateDirectory(root);
        // Every connection needs this password: no other local user reaches the servers, kept running with --keep or not.
        var password = Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16)).ToLowerInvariant();

        string binDir;
        try { binDir = PostgresBinaries.Find(); }
        catch (FileNotFoundException e) { throw new CliException(e.Message); }
        Console.WriteLine($"Starting 3 PostgreSQL {PostgresBinaries.MajorVersion(binDir)} servers from {binDir} under {root} ...");

        var servers = new List<LocalPostgresServer>();
        var hosts = new List<IHost>();
        try
        {
            foreach (var name in NodeNames)
                servers.Add(await LocalPostgresServer.StartNewAsync(name, root, binDir, ct: ct, superuserPassword: password));

            var options = new PgMultiMasterOptions { Cluster = "demo", Tables = ["public.*"], InsertOnlyTables = ["public.audit_log"] };
            // The links into and out of a stopped node retry at least every 2 s, so they are back soon after it is.
            if (settings.FailNode) options.Apply.MaxRetryDelay = TimeSpan.FromSeconds(2);
            foreach (var server in servers)
            {
                await using (var admin = await server.OpenAsync(ct: ct))
                await using (var create = new NpgsqlCommand("CREATE DATABASE demo", admin))
                    await create.ExecuteNonQueryAsync(ct);
                await using var conn = await server.OpenAsync("demo", ct);
                await using (var ddl = new NpgsqlCommand(Schema, conn))
                    await ddl.ExecuteNonQueryAsync(ct);
                options.Nodes.Add(new NodeOptions { Name = server.Name, ConnectionString = server.ConnectionString("demo") });
                Console.WriteLine($"  node {server.Name}: 127.0.0.1:{server.Port}, database demo");
            }
            // It holds the password: readable by the user who ran the demo only.
            var configPath = Path.Combine(root, "appsettings.json");
            await File.WriteAllTextAsync(configPath, JsonSerializer.Serialize(new { PgMultiMaster = options }, new JsonSerializerOptions { WriteIndented = true }), ct);
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(configPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            var passwordPath = Path.Combine(root, "postgres.password");
            await File.WriteAllTextAsync(passwordPath, password, ct);
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(passwordPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);

            var topology = new ClusterTopology(options);
            using (var loggers = Logging.Console(LogLevel.Warning))
                await new ClusterInitializer(topology, loggers.CreateLogger("pgmm.init")).InitAsync(ct);
            Console.WriteLine($"Initialized cluster 'demo': {topology.AllLinks().Count} links (config: {configPath}).");

            foreach (var name in NodeNames)
            {
                // One dashboard is enough: every worker's dashboard shows the whole cluster.
                var host = WorkerHost.Build(new PgMultiMasterOptions
                {
                    Cluster = options.Cluster, Node = name, Nodes = options.Nodes, Tables = options.Tables, InsertOnlyTables = options.InsertOnlyTables,
                    Apply = options.Apply,
                    Monitoring = new MonitoringOptions { Urls = name == NodeNames[0] ? $"http://127.0.0.1:{port}" : "", PollInterval = TimeSpan.FromSeconds(1) },
                }, logging => logging.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning)
                    // With --fail-node, links into and out of the stopped node warn at every retry: the progress lines count them instead.
                    .AddFilter("PgMultiMaster.Link", settings.FailNode ? LogLevel.Error : LogLevel.Warning));
                await host.StartAsync(ct);
                hosts.Add(host);
            }
            var dashboard = ((Microsoft.AspNetCore.Builder.WebApplication)hosts[0]).Urls.FirstOrDefault() ?? $"http://127.0.0.1:{port}";
            Console.WriteLine($"Dashboard: {dashboard}/  (metrics: {dashboard}/metrics, status: {dashboard}/api/status)");
            var counters = new long[NodeNames.Length];
            using var writing = CancellationTokenSource.CreateLinkedTokenSource(ct);
            await using var failover = settings.FailNode
                ? new FailoverWriters(MultiHostConnectionString.Build([.. options.Nodes.Select(n => n.ConnectionString)], hostRecheckSeconds: 2),
                    [.. servers.Select(s => (s.Name, s.Port))], counters)
                : null;
            if (failover is null)
                Console.WriteLine($"Workers running. Writing on all 3 nodes at once for {seconds} s ...");
            else
                Console.WriteLine($"Workers running. Writing for {seconds} s through one connection string naming all 3 nodes " +
                                  $"(Load Balance Hosts=true); {FailingNode} will be stopped at {seconds / 3.0:0.0} s and started " +
                                  $"{seconds / 3.0:0.0} s after it is down ...");
            List<Task> writers = failover is null
                ? [.. options.Nodes.Select((n, i) => WriteAsync(n, i, counters, writing.Token))]
                : [failover.RunAsync(NodeNames.Length, writing.Token)];
            var clock = Stopwatch.StartNew();
            var nodeOutage = failover is null ? null : new NodeOutage(servers.Single(s => s.Name == FailingNode), topology, NodeNames, counters, clock);
            var outage = nodeOutage?.RunAsync(TimeSpan.FromSeconds(seconds), ct);
            var stopWriting = StopWritingAsync(writing, TimeSpan.FromSeconds(seconds), nodeOutage?.Over ?? Task.CompletedTask, ct);
            while (writers.Any(w => !w.IsCompleted))
            {
                await Task.WhenAny(Task.WhenAll(writers), Task.Delay(1000, ct));
                var links = hosts.SelectMany(h => h.Services.GetRequiredService<NodeWorker>().Links).Select(l => l.Status).ToList();
                var retrying = links.Where(l => l.State == LinkState.BackingOff).Select(l => l.Name).ToList();
                Console.WriteLine($"  {clock.Elapsed.TotalSeconds,4:0}s  written: " +
                                  string.Join(", ", NodeNames.Select((n, i) => $"{n} {Interlocked.Read(ref counters[i])} tx")) +
                                  "  |  applied: " + string.Join(", ", links.Select(l => $"{l.Name} {l.TransactionsApplied}")) +
                                  (retrying.Count > 0 ? $"  |  retrying: {string.Join(", ", retrying)}" : ""));
            }
            await Task.WhenAll(writers);
            await stopWriting;
            var survived = true;
            if (outage is not null)
            {
                var result = await outage;
                Console.WriteLine($"Failover: transactions that failed and were retried: {failover!.Retried} ({failover.RetriedElsewhere} on another node); " +
                                  $"failed twice and given up: {failover.Lost}{(failover.LastLoss is { } why ? $" (last: {why})" : "")}.");
                survived = NodeNames.Where(n => n != FailingNode).All(n => result.WrittenWhileDown[Array.IndexOf(NodeNames, n)] > 0);
                if (!survived) Console.WriteLine($"Not every other node took writes while {FailingNode} was down: the failover did not work.");
            }

            Console.WriteLine("Writes stopped; waiting for every link to catch up ...");
            await CatchUp.WaitAsync(topology, TimeSpan.FromSeconds(120), ct);
            var diff = await ClusterDiff.ComputeAsync(topology, ct);
            Console.WriteLine();
            Console.Write(diff.Render());
            Console.WriteLine(diff.AllMatch ? "All 3 nodes match." : "The nodes differ.");

            if (keep)
            {
                Console.WriteLine();
                Console.WriteLine($"--keep: the servers keep running (data under {root}); the password of their user postgres is in");
                Console.WriteLine($"{passwordPath} (readable by you only). Connect with e.g.");
                foreach (var server in servers)
                    Console.WriteLine($"  PGPASSWORD=$(cat {passwordPath}) psql -h 127.0.0.1 -p {server.Port} -U postgres demo      # {server.Name}");
                Console.WriteLine($"Run a worker: pgmm run --config {configPath} --node east");
                Console.WriteLine($"Stop the servers: pg_ctl -D {root}/<node> stop  (as the user that owns {root})");
            }
            return diff.AllMatch && survived ? 0 : 1;
        }
        finally
        {
            foreach (var host in hosts)
            {
                await host.StopAsync(CancellationToken.None);
                host.Dispose();
            }
            if (!keep)
            {
                foreach (var server in servers) await server.DisposeAsync();
                try { Directory.Delete(root, recursive: true); } catch (IOException) { }
            }
        }
    }

    /// <summary>
    /// The writers stop after <paramref name="atLeast"/>, and with --fail-node not before the node is back: stopping a
    /// server can take seconds, and the writes must go on while it is down.
    /// </summary>
    private static async Task StopWritingAsync(CancellationTokenSource writing, TimeSpan atLeast, Task over, CancellationToken ct)
    {
        try
        {
            await Task.WhenAll(Task.Delay(atLeast, ct), over);
        }
        finally
        {
            await writing.CancelAsync();
        }
    }

    /// <summary>One node's application: inserts, updates and deletes on keys only this node uses.</summary>
    private static async Task WriteAsync(NodeOptions node, int index, long[] counters, CancellationToken ct)
    {
        await using var conn = new NpgsqlConnection(node.ConnectionString);
        await conn.OpenAsync(CancellationToken.None);
        var workload = new DemoWorkload(index);
        while (!ct.IsCancellationRequested)
        {
            await using var tx = await conn.BeginTransactionAsync(CancellationToken.None);
            await workload.WriteAsync(conn, node.Name);
            await tx.CommitAsync(CancellationToken.None);
            Interlocked.Increment(ref counters[index]);
        }
    }
}
