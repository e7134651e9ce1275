using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using PgMultiMaster.Configuration;
using PgMultiMaster.Diagnostics;
using PgMultiMaster.Hosting;
using PgMultiMaster.Replication;
using PgMultiMaster.Setup;
using PgMultiMaster.Topology;
using Xunit.Abstractions;

namespace PgMultiMaster.IntegrationTests.Harness;

/// <summary>
/// One test's cluster: its own database on each server (named like the cluster), its own slots, origins and
/// publications; workers in-process or as real processes. Everything is dropped at the end.
/// </summary>
public sealed class Mesh : IAsyncDisposable
{
    private readonly ServersFixture _servers;
    private readonly ITestOutputHelper _output;
    private readonly Dictionary<string, IHost> _workers = [];
    private readonly List<WorkerProcess> _processes = [];

    public PgMultiMasterOptions Options { get; }
    public ClusterTopology Topology { get; }
    public string Database => Options.Cluster;
    public IReadOnlyList<string> NodeNames => Options.Nodes.Select(n => n.Name).ToList();

    private Mesh(ServersFixture servers, ITestOutputHelper output, PgMultiMasterOptions options)
    {
        _servers = servers;
        _output = output;
        Options = options;
        Topology = new ClusterTopology(options);
    }

    /// <summary>Creates the databases, runs <paramref name="schemaSql"/> on each, and (unless told not to) runs init.</summary>
    public static async Task<Mesh> CreateAsync(
        ServersFixture servers, ITestOutputHelper output, string schemaSql, int nodes = 3,
        Action<PgMultiMasterOptions>? configure = null, bool init = true)
    {
        var cluster = servers.NextClusterName();
        var options = new PgMultiMasterOptions { Cluster = cluster, Tables = ["public.*"] };
        options.Apply.FeedbackInterval = TimeSpan.FromMilliseconds(200);
        options.Apply.MaxRetryDelay = TimeSpan.FromSeconds(2);
        // Every worker serves HTTP on a free port of its own; status is published often so tests need not wait long.
        options.Monitoring.Urls = "http://127.0.0.1:0";
        options.Monitoring.PollInterval = TimeSpan.FromMilliseconds(500);
        foreach (var server in servers.Servers.Take(nodes))
        {
            await using (var admin = new NpgsqlConnection(server.ConnectionString("postgres")))
            {
                await admin.OpenAsync();
                await using var create = new NpgsqlCommand($"CREATE DATABASE {cluster}", admin);
                await create.ExecuteNonQueryAsync();
            }
            await using (var conn = new NpgsqlConnection(server.ConnectionString(cluster)))
            {
                await conn.OpenAsync();
                await using var ddl = new NpgsqlCommand(schemaSql, conn);
                await ddl.ExecuteNonQueryAsync();
            }
            options.Nodes.Add(new NodeOptions { Name = server.Name, ConnectionString = server.ConnectionString(cluster) });
        }
        configure?.Invoke(options);
        var mesh = new Mesh(servers, output, options);
        if (init) await mesh.InitAsync();
        return mesh;
    }

    public Task<IReadOnlyList<ReplicatedTable>> InitAsync() =>
        new ClusterInitializer(Topology, LoggerFactory.Create(b => b.AddProvider(new TestOutputLoggerProvider(_output))).CreateLogger("init"))
            .InitAsync(CancellationToken.None);

    public NodeOptions Node(string name) => Options.Nodes.Single(n => n.Name == name);

    public Task<NpgsqlConnection> OpenAsync(string node) => OpenAsync(Node(node).ConnectionString, default);

    public Task ExecAsync(string node, string sql, params object?[] args) => ExecOnAsync(Node(node).ConnectionString, sql, args);

    public Task<T> ScalarAsync<T>(string node, string sql, params object?[] args) => ScalarOnAsync<T>(Node(node).ConnectionString, sql, args);

    /// <summary>
    /// The harness's superuser on this cluster's database of <paramref name="node"/>'s server, whatever role the
    /// node's own connection string uses (tests that run pgmm as a role of its own).
    /// </summary>
    public string AdminConnectionString(string node) => _servers[node].ConnectionString(Database);

    public Task AdminExecAsync(string node, string sql, params object?[] args) => ExecOnAsync(AdminConnectionString(node), sql, args);

    public Task<T> AdminScalarAsync<T>(string node, string sql, params object?[] args) => ScalarOnAsync<T>(AdminConnectionString(node), sql, args);

    public static async Task<NpgsqlConnection> OpenAsync(string connectionString, CancellationToken ct)
    {
        var conn = new NpgsqlConnection(connectionString);
        await conn.OpenAsync(ct);
        return conn;
    }

    public static async Task ExecOnAsync(string connectionString, string sql, params object?[] args)
    {
        await using var conn = await OpenAsync(connectionString, default);
        await using var cmd = Command(conn, sql, args);
        await cmd.ExecuteNonQueryAsync();
    }

    public static async Task<T> ScalarOnAsync<T>(string connectionString, string sql, params object?[] args)
    {
        await using var conn = await OpenAsync(connectionString, default);
        await using var cmd = Command(conn, sql, args);
        return (T)(await cmd.ExecuteScalarAsync())!;
    }

    /// <summary>All rows of a query as text, in query order: for comparing nodes value by value.</summary>
    public async Task<List<string>> RowsAsync(string node, string sql)
    {
        await using var conn = await OpenAsync(node);
        await using var cmd = new NpgsqlCommand(sql, conn);
        await using var r = await cmd.ExecuteReaderAsync();
        var rows = new List<string>();
        while (await r.ReadAsync())
            rows.Add(string.Join(" | ", Enumerable.Range(0, r.FieldCount).Select(i => r.IsDBNull(i) ? "NULL" : r.GetProviderSpecificValue(i)?.ToString())));
        return rows;
    }

    private static NpgsqlCommand Command(NpgsqlConnection conn, string sql, object?[] args)
    {
        var cmd = new NpgsqlCommand(sql, conn);
        foreach (var a in args) cmd.Parameters.Add(new NpgsqlParameter { Value = a ?? DBNull.Value });
        return cmd;
    }

    /// <summary>
    /// The connection string the worker beside the first node is given for the second (by default the node's own):
    /// a <see cref="FaultNetwork"/> puts its proxies here. The harness's own connections always go direct.
    /// </summary>
    public Func<string, NodeOptions, string>? WorkerConnectionString { get; set; }

    /// <summary>A copy of the cluster's options as the worker beside <paramref name="node"/> gets them.</summary>
    private PgMultiMasterOptions WorkerOptions(string node)
    {
        var options = JsonSerializer.Deserialize<PgMultiMasterOptions>(JsonSerializer.Serialize(Options))!;
        options.Node = node;
        if (WorkerConnectionString is { } route)
            foreach (var n in options.Nodes) n.ConnectionString = route(node, Node(n.Name));
        return options;
    }

    /// <summary>Starts the in-process worker beside <paramref name="node"/>.</summary>
    public async Task StartWorkerAsync(string node)
    {
        var options = WorkerOptions(node);
        var host = WorkerHost.Build(options, logging => logging.ClearProviders().AddProvider(new TestOutputLoggerProvider(_output)));
        await host.StartAsync();
        _workers[node] = host;
    }

    public async Task StartAllWorkersAsync()
    {
        foreach (var n in NodeNames) await StartWorkerAsync(n);
    }

    /// <summary>Where the in-process worker beside <paramref name="node"/> serves HTTP, e.g. http://127.0.0.1:41234.</summary>
    public string BaseUrl(string node) => ((Microsoft.AspNetCore.Builder.WebApplication)_workers[node]).Urls.First();

    public IReadOnlyList<LinkStatus> LinkStatuses(string node) =>
        _workers[node].Services.GetRequiredService<NodeWorker>().Links.Select(l => l.Status).ToList();

    public async Task StopWorkerAsync(string node)
    {
        if (!_workers.Remove(node, out var host)) return;
        await host.StopAsync();
        host.Dispose();
    }

    /// <summary>Environment variables of every <c>pgmm run</c> process this mesh starts.</summary>
    public Dictionary<string, string> WorkerEnvironment { get; } = [];

    /// <summary>Writes this cluster's configuration to a file and starts <c>pgmm run</c> for <paramref name="node"/>.</summary>
    public WorkerProcess StartWorkerProcess(string node, params string[] extraArgs)
    {
        // Workers given connection strings of their own (through proxies) each get a file of their own.
        var path = Path.Combine(Path.GetTempPath(), WorkerConnectionString is null ? $"pgmm-{Options.Cluster}.json" : $"pgmm-{Options.Cluster}-{node}.json");
        var options = WorkerOptions(node);
        options.Node = Options.Node; // the node is given as --node
        // Written whole, then renamed into place: a worker of another node started a moment ago may be reading the
        // file, and an in-place rewrite let it read half of it ("not valid JSON", a worker that never started).
        var written = $"{path}.{Guid.NewGuid():N}";
        File.WriteAllText(written, JsonSerializer.Serialize(new { PgMultiMaster = options }));
        File.Move(written, path, overwrite: true);
        var worker = WorkerProcess.Start(path, node, WorkerEnvironment, extraArgs);
        _processes.Add(worker);
        return worker;
    }

    /// <summary>Stops every <c>pgmm run</c> process of this mesh with SIGTERM and waits for them to exit.</summary>
    public async Task StopWorkerProcessesAsync()
    {
        foreach (var p in _processes) await p.TerminateAsync(TimeSpan.FromSeconds(30));
    }

    public Task WaitForCatchUpAsync(TimeSpan? timeout = null) =>
        CatchUp.WaitAsync(Topology, timeout ?? TimeSpan.FromSeconds(90), CancellationToken.None);

    /// <summary>
    /// Waits until every in-process link of <paramref name="nodes"/> (all by default) reports streaming. Converged rows do
    /// not mean a link has confirmed everything its source had written when it connected (a restart's WAL, a replayed
    /// transaction): it reports streaming once its next feedback confirms that far.
    /// </summary>
    public Task WaitForStreamingAsync(params string[] nodes) =>
        WaitUntilAsync(() => Task.FromResult((nodes.Length == 0 ? NodeNames : nodes).All(node => LinkStatuses(node).All(s => s.State == LinkState.Streaming))),
            "every link to report streaming");

    /// <summary>
    /// Waits until every link has caught up, then asserts that every replicated table is identical on every node: by
    /// the product's checksums (<c>pgmm diff</c>) and by the harness's own plain SQL (<see cref="RowSets"/>).
    /// </summary>
    public async Task<ClusterDiff> AssertConvergedAsync(TimeSpan? timeout = null)
    {
        await WaitForCatchUpAsync(timeout);
        var diff = await ClusterDiff.ComputeAsync(Topology, CancellationToken.None);
        Assert.True(diff.AllMatch, "nodes differ:\n" + diff.Render());
        await RowSets.AssertSameAsync(this);
        return diff;
    }

    /// <summary>Polls <paramref name="condition"/> until it holds; fails with <paramref name="what"/> after the timeout.</summary>
    public static async Task WaitUntilAsync(Func<Task<bool>> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail($"timed out waiting for {what}");
            await Task.Delay(50);
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var p in _processes) await p.DisposeAsync();
        foreach (var n in _workers.Keys.ToList()) await StopWorkerAsync(n);
        foreach (var server in _servers.Servers)
        {
            // A walsender may take a moment to notice its client is gone: retry until its slots and origins are free,
            // each attempt on a fresh connection.
            for (var attempt = 0; ; attempt++)
            {
                try
                {
                    await using var admin = new NpgsqlConnection(server.ConnectionString("postgres"));
                    await admin.OpenAsync();
                    await using (var drop = new NpgsqlCommand(
                        "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1", admin))
                    {
                        drop.Parameters.Add(new NpgsqlParameter { Value = Database });
                        await drop.ExecuteNonQueryAsync();
                    }
                    await using (var origins = new NpgsqlCommand("SELECT pg_replication_origin_drop(roname) FROM pg_replication_origin WHERE roname LIKE $1", admin))
                    {
                        origins.Parameters.Add(new NpgsqlParameter { Value = Options.Cluster + "\\_%" });
                        await origins.ExecuteNonQueryAsync();
                    }
                    await using var dropDb = new NpgsqlCommand($"DROP DATABASE IF EXISTS {Database} WITH (FORCE)", admin);
                    await dropDb.ExecuteNonQueryAsync();
                    break;
                }
                catch (Exception e) when (attempt < 50 && e is NpgsqlException or InvalidOperationException)
                {
                    await Task.Delay(100);
                }
                catch (Exception e) when (e is NpgsqlException or InvalidOperationException)
                {
                    _output.WriteLine($"cleanup on {server.Name} gave up: {e.Message}");
                    break;
                }
            }
        }
    }
}
