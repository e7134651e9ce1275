using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using PgMultiMaster.Configuration;
using PgMultiMaster.LocalServers;
using PgMultiMaster.Setup;
using PgMultiMaster.Topology;

namespace PgMultiMaster.Bench;

internal sealed partial class Bench
{
    private readonly List<Process> _meshWorkers = [];

    /// <summary>
    /// Live single-row updates: pgbench with <paramref name="clients"/> clients runs a one-UPDATE script on the
    /// source for <paramref name="duration"/> while the link streams. Every update adds 1 to a balance, so the
    /// target's sum of balances counts the updates applied; it is sampled every second to see whether the backlog
    /// grows. Reported: the source's rate, the replicated rate (all updates over load time plus catch-up), the
    /// largest backlog seen and the catch-up time after the load stops.
    /// </summary>
    public async Task<IReadOnlyList<Result>> LiveUpdatesAsync(int clients, TimeSpan duration)
    {
        var results = new List<Result>();
        var script = Path.Combine(_root, "update.sql");
        await File.WriteAllTextAsync(script, "\\set id random(1, 10000)\nUPDATE acct SET balance = balance + 1 WHERE id = :id;\n");
        foreach (var system in new[] { "native", "pgmm" })
        {
            if (system == "pgmm" && _worker is null)
            {
                StartWorker();
                await WaitSlotActiveAsync("bench_a_b");
            }
            if (system == "native") await WaitNativeStreamingAsync();
            var source = _a.ConnectionString(system);
            var target = _b.ConnectionString(system);
            await Exec(source, "TRUNCATE acct; INSERT INTO acct SELECT g, 0 FROM generate_series(0, 10000) g");
            await WaitUntilAsync(async () => await Scalar<long>(target, "SELECT count(*) FROM acct") == 10001);
            var cpuPid = system == "pgmm" ? _worker!.Id : await Scalar<int>(target, "SELECT pid FROM pg_stat_subscription WHERE subname = 's' AND relid IS NULL");
            var cpuBefore = ProcessStats.CpuSeconds(cpuPid);

            var clock = Stopwatch.StartNew();
            var pgbench = Process.Start(new ProcessStartInfo(Path.Combine(PostgresBinaries.Find(), "pgbench"),
                ["-n", "-c", clients.ToString(CultureInfo.InvariantCulture), "-j", "2", "-T", ((int)duration.TotalSeconds).ToString(CultureInfo.InvariantCulture),
                 "-f", script, "-h", "127.0.0.1", "-p", _a.Port.ToString(CultureInfo.InvariantCulture), "-U", "postgres", system])
                { RedirectStandardOutput = true, RedirectStandardError = true })!;
            var output = pgbench.StandardOutput.ReadToEndAsync();
            long maxBacklog = 0;
            var backlogs = new List<long>();
            while (!pgbench.HasExited)
            {
                await Task.Delay(1000);
                var written = await Scalar<long>(source, "SELECT sum(balance)::bigint FROM acct");
                var applied = await Scalar<long>(target, "SELECT sum(balance)::bigint FROM acct");
                backlogs.Add(written - applied);
                maxBacklog = Math.Max(maxBacklog, written - applied);
            }
            await pgbench.WaitForExitAsync();
            var loadSeconds = clock.Elapsed.TotalSeconds;
            var total = await Scalar<long>(source, "SELECT sum(balance)::bigint FROM acct");
            await WaitUntilAsync(async () => await Scalar<long>(target, "SELECT sum(balance)::bigint FROM acct") == total);
            var catchUp = clock.Elapsed.TotalSeconds - loadSeconds;
            var cpu = ProcessStats.CpuSeconds(cpuPid) - cpuBefore;
            var sourceRate = total / loadSeconds;
            Console.WriteLine($"{system}: pgbench {total} updates in {loadSeconds:0.0}s ({sourceRate:0} tx/s at the source); backlog per second: " +
                              string.Join(" ", backlogs) + $"; caught up {catchUp:0.00}s after the load stopped");
            results.Add(new Result($"live single-row updates, {clients} pgbench clients", system, total, "tx", loadSeconds + catchUp, cpu,
                system == "pgmm" ? ProcessStats.PeakRssMb(cpuPid) : null)
            {
                Note = $"source {sourceRate:0} tx/s; max backlog {maxBacklog} tx; catch-up {catchUp:0.00} s",
                CpuLabel = system == "native" ? "apply worker" : null,
            });
        }
        return results;
    }

    /// <summary>
    /// The 3-node mesh under pgbench's TPC-B on every node at once: every transaction updates the one branch row
    /// (scale 1), so concurrent updates of it are conflicts on every node, resolved by Delta rules on the balance
    /// columns (history is insert-only). Reported: the transactions written per second on all nodes, the time
    /// until every link has applied them, conflicts resolved, and whether the nodes converged (checksums).
    /// Native logical replication has no counterpart: it cannot resolve these conflicts.
    /// </summary>
    public async Task<IReadOnlyList<Result>> MeshTpcbAsync(int clientsPerNode, TimeSpan duration)
    {
        StopWorker();
        string[] settings = ["shared_buffers=256MB", "max_wal_size=4GB", "logical_decoding_work_mem=64MB"];
        var c = await LocalPostgresServer.StartNewAsync("c", _root, extraSettings: settings);
        _extra.Add(c);
        var servers = new[] { _a, _b, c };
        var bin = PostgresBinaries.Find();
        var options = new PgMultiMasterOptions
        {
            Cluster = "mesh", Tables = ["public.pgbench_accounts", "public.pgbench_branches", "public.pgbench_tellers"],
            InsertOnlyTables = ["public.pgbench_history"],
        };
        options.Conflicts.Tables["public.pgbench_accounts"] = new TableConflictRule { Columns = { ["abalance"] = "Delta" } };
        options.Conflicts.Tables["public.pgbench_tellers"] = new TableConflictRule { Columns = { ["tbalance"] = "Delta" } };
        options.Conflicts.Tables["public.pgbench_branches"] = new TableConflictRule { Columns = { ["bbalance"] = "Delta" } };
        foreach (var (server, name) in servers.Zip(new[] { "a", "b", "c" }))
        {
            await Exec(server.ConnectionString(), "CREATE DATABASE mesh");
            await RunAsync(Path.Combine(bin, "pgbench"), "-i", "-s", "1", "-q", "-h", "127.0.0.1", "-p", server.Port.ToString(CultureInfo.InvariantCulture), "-U", "postgres", "mesh");
            // Delta merges need the whole old row.
            await Exec(server.ConnectionString("mesh"),
                "ALTER TABLE pgbench_accounts REPLICA IDENTITY FULL; ALTER TABLE pgbench_tellers REPLICA IDENTITY FULL; ALTER TABLE pgbench_branches REPLICA IDENTITY FULL");
            options.Nodes.Add(new NodeOptions { Name = name, ConnectionString = server.ConnectionString("mesh") });
        }
        var topology = new ClusterTopology(options);
        await new ClusterInitializer(topology, NullLogger.Instance).InitAsync(CancellationToken.None);
        var config = Path.Combine(_root, "mesh.json");
        await File.WriteAllTextAsync(config, JsonSerializer.Serialize(new { PgMultiMaster = options }));
        // Three workers on one machine: no HTTP, so they do not compete for the port.
        foreach (var n in options.Nodes)
            _meshWorkers.Add(RunWorker(config, n.Name, "--PgMultiMaster:Monitoring:Urls="));
        foreach (var (server, name) in servers.Zip(new[] { "a", "b", "c" }))
            foreach (var peer in new[] { "a", "b", "c" }.Where(p => p != name))
                await WaitUntilAsync(async () => await Scalar<bool>(server.ConnectionString("mesh"),
                    $"SELECT coalesce((SELECT active FROM pg_replication_slots WHERE slot_name = 'mesh_{name}_{peer}'), false)"));

        var cpuBefore = _meshWorkers.Sum(p => ProcessStats.CpuSeconds(p.Id));
        var clock = Stopwatch.StartNew();
        var runs = servers.Select(s => RunAsync(Path.Combine(bin, "pgbench"), "-n", "-c", clientsPerNode.ToString(CultureInfo.InvariantCulture), "-j", "1",
            "-T", ((int)duration.TotalSeconds).ToString(CultureInfo.InvariantCulture), "-h", "127.0.0.1", "-p", s.Port.ToString(CultureInfo.InvariantCulture),
            "-U", "postgres", "mesh")).ToList();
        await Task.WhenAll(runs);
        var loadSeconds = clock.Elapsed.TotalSeconds;
        // Every node holds every node's history rows once all is applied.
        var expected = await Scalar<long>(_a.ConnectionString("mesh"), "SELECT count(*) FROM pgbench_history");
        await WaitUntilAsync(async () =>
        {
            var counts = new List<long>();
            foreach (var s in servers) counts.Add(await Scalar<long>(s.ConnectionString("mesh"), "SELECT count(*) FROM pgbench_history"));
            return counts.Distinct().Count() == 1 && counts[0] >= expected;
        });
        await PgMultiMaster.Diagnostics.CatchUp.WaitAsync(topology, TimeSpan.FromMinutes(5), CancellationToken.None);
        var seconds = clock.Elapsed.TotalSeconds;
        var total = await Scalar<long>(_a.ConnectionString("mesh"), "SELECT count(*) FROM pgbench_history");
        var diff = await PgMultiMaster.Diagnostics.ClusterDiff.ComputeAsync(topology, CancellationToken.None);
        long conflicts = 0;
        foreach (var s in servers) conflicts += await Scalar<long>(s.ConnectionString("mesh"), "SELECT count(*) FROM pgmm.conflict_log");
        var sums = await Scalar<string>(_a.ConnectionString("mesh"),
            "SELECT (SELECT sum(abalance) FROM pgbench_accounts) || ' / ' || (SELECT sum(tbalance) FROM pgbench_tellers) || ' / ' || (SELECT sum(bbalance) FROM pgbench_branches) || ' / ' || (SELECT sum(delta) FROM pgbench_history)");
        Console.WriteLine(diff.Render());
        Console.WriteLine($"mesh: {total} TPC-B transactions written on 3 nodes in {loadSeconds:0.0}s; all applied everywhere {seconds - loadSeconds:0.00}s later; " +
                          $"{conflicts} conflicts; converged: {diff.AllMatch}; sums accounts/tellers/branches/history deltas on a: {sums}");
        var cpu = _meshWorkers.Sum(p => ProcessStats.CpuSeconds(p.Id)) - cpuBefore;
        foreach (var p in _meshWorkers) { p.Kill(); p.WaitForExit(); }
        _meshWorkers.Clear();
        return
        [
            new Result($"3-node mesh, pgbench TPC-B ({clientsPerNode} clients per node, Delta rules)", "pgmm", total, "tx", seconds, cpu,
                null)
            {
                Note = $"written {total / loadSeconds:0} tx/s; applied everywhere {seconds - loadSeconds:0.00} s after the load; {conflicts} conflicts; converged: {(diff.AllMatch ? "yes" : "NO")}",
                CpuLabel = "3 workers",
            },
        ];
    }

    private static async Task RunAsync(string file, params string[] args)
    {
        var p = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{Path.GetFileName(file)} {string.Join(' ', args)} failed: {await stderr}{await stdout}");
    }
}
