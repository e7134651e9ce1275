using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Npgsql;
using PgMultiMaster.Configuration;
using PgMultiMaster.LocalServers;
using PgMultiMaster.Setup;
using PgMultiMaster.Topology;
using Microsoft.Extensions.Logging.Abstractions;

namespace PgMultiMaster.Bench;

/// <summary>
/// Two local servers with durable settings; database <c>native</c> replicated by a native subscription and
/// database <c>pgmm</c> by a PgMultiMaster worker process, so both systems run on the same servers.
/// </summary>
internal sealed partial class Bench : IAsyncDisposable
{
    private const string Table = """
        CREATE TABLE public.bulk (id bigint PRIMARY KEY, payload text NOT NULL, amount numeric(12,2), at timestamptz NOT NULL DEFAULT now());
        CREATE TABLE public.acct (id int PRIMARY KEY, balance bigint NOT NULL);
        CREATE TABLE public.heartbeat (id int PRIMARY KEY, at timestamptz NOT NULL);
        INSERT INTO public.heartbeat VALUES (1, now());
        CREATE TABLE public.bigrows (id int PRIMARY KEY, t text NOT NULL);
        ALTER TABLE public.bigrows ALTER COLUMN t SET STORAGE EXTERNAL;
        """;
    private readonly string _root;
    private readonly LocalPostgresServer _a;
    private readonly LocalPostgresServer _b;
    private readonly string _configPath;
    private Process? _worker;
    private readonly List<LocalPostgresServer> _extra = [];

    private Bench(string root, LocalPostgresServer a, LocalPostgresServer b, string configPath)
    {
        _root = root;
        _a = a;
        _b = b;
        _configPath = configPath;
    }

    public static async Task<Bench> StartAsync()
    {
        var root = Path.Combine(Path.GetTempPath(), $"pgmm-bench-{Environment.ProcessId}");
        string[] settings = ["shared_buffers=256MB", "max_wal_size=4GB", "logical_decoding_work_mem=64MB"];
        var a = await LocalPostgresServer.StartNewAsync("a", root, extraSettings: settings);
        var b = await LocalPostgresServer.StartNewAsync("b", root, extraSettings: settings);
        foreach (var s in new[] { a, b })
        {
            await Exec(s.ConnectionString(), "CREATE DATABASE native");
            await Exec(s.ConnectionString(), "CREATE DATABASE pgmm");
            await Exec(s.ConnectionString("native"), Table);
            await Exec(s.ConnectionString("pgmm"), Table);
        }
        // The lag workload learns when a heartbeat is applied on the target from a notification sent at its commit.
        foreach (var db in new[] { "native", "pgmm" })
            await Exec(b.ConnectionString(db), """
                CREATE FUNCTION public.heartbeat_applied() RETURNS trigger LANGUAGE plpgsql AS
                  $$ BEGIN PERFORM pg_notify('bench_heartbeat', extract(epoch FROM NEW.at)::text); RETURN NULL; END $$;
                CREATE TRIGGER heartbeat_applied AFTER UPDATE ON public.heartbeat FOR EACH ROW EXECUTE FUNCTION public.heartbeat_applied();
                ALTER TABLE public.heartbeat ENABLE ALWAYS TRIGGER heartbeat_applied;
                """);
        await Exec(a.ConnectionString("native"), "CREATE PUBLICATION p FOR TABLE public.bulk, public.acct, public.heartbeat, public.bigrows");
        await Exec(b.ConnectionString("native"),
            $"CREATE SUBSCRIPTION s CONNECTION 'host=127.0.0.1 port={a.Port} user=postgres dbname=native' PUBLICATION p WITH (copy_data = false)");

        var options = new PgMultiMasterOptions
        {
            Cluster = "bench", Tables = ["public.bulk", "public.acct", "public.heartbeat", "public.bigrows"],
            Nodes = [new() { Name = "a", ConnectionString = a.ConnectionString("pgmm") }, new() { Name = "b", ConnectionString = b.ConnectionString("pgmm") }],
        };
        await new ClusterInitializer(new ClusterTopology(options), NullLogger.Instance).InitAsync(CancellationToken.None);
        var configPath = Path.Combine(root, "pgmm.json");
        await File.WriteAllTextAsync(configPath, JsonSerializer.Serialize(new { PgMultiMaster = options }));
        return new Bench(root, a, b, configPath);
    }

    public string Describe() =>
        $"Machine: {Environment.ProcessorCount} cores, {Environment.OSVersion}; PostgreSQL {_a.MajorVersion} (fsync on, synchronous_commit on, " +
        $"shared_buffers 256MB); servers and worker on loopback; {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC.";

    // The next id of the bulk table: a repeated run (--repeat) goes on where the last one ended.
    private long _nextBulkId = 1;

    /// <summary>Bulk inserts (batches of <paramref name="perTx"/> rows): streamed while loading, and as a backlog.</summary>
    public async Task<IReadOnlyList<Result>> BulkInsertAsync(int rows, int perTx)
    {
        var results = new List<Result>();
        var next = _nextBulkId;

        // Streaming: the link runs while the source loads.
        await WaitNativeStreamingAsync();
        results.Add(await TimedAsync("bulk insert, streaming", "native", "native", rows, async () => next = await LoadAsync("native", next, rows, perTx)));
        if (_worker is null) StartWorker(); // a repeated run finds it running
        await WaitSlotActiveAsync("bench_a_b");
        results.Add(await TimedAsync("bulk insert, streaming", "pgmm", "pgmm", rows, async () => next = await LoadAsync("pgmm", next, rows, perTx), worker: true));

        // Backlog: the link is down while the source loads, then catches up. Only the catch-up is timed.
        await Exec(_b.ConnectionString("native"), "ALTER SUBSCRIPTION s DISABLE");
        await WaitSlotInactiveAsync("native", "s");
        var nativeLast = await LoadAsync("native", next, rows, perTx);
        var start = Stopwatch.StartNew();
        await Exec(_b.ConnectionString("native"), "ALTER SUBSCRIPTION s ENABLE");
        await WaitSlotActiveAsync("s", "native");
        var workerStart = start.Elapsed.TotalSeconds;
        results.Add(await TimedAsync("bulk insert, backlog catch-up", "native", "native", rows, () => Task.CompletedTask, lastId: nativeLast - 1,
            note: workerStart));

        StopWorker();
        var pgmmLast = await LoadAsync("pgmm", next, rows, perTx);
        start.Restart();
        StartWorker();
        await WaitSlotActiveAsync("bench_a_b");
        workerStart = start.Elapsed.TotalSeconds;
        results.Add(await TimedAsync("bulk insert, backlog catch-up", "pgmm", "pgmm", rows, () => Task.CompletedTask, lastId: pgmmLast - 1, worker: true,
            note: workerStart));
        Console.WriteLine($"(excluded from the backlog times: pgmm worker process start to streaming, {workerStart:0.00}s)");
        _nextBulkId = Math.Max(nativeLast, pgmmLast);
        return results;
    }

    /// <summary>
    /// A backlog of single-row UPDATE transactions (one commit each) built while the link is down, then the time
    /// from the link's restart to the last one applied.
    /// </summary>
    public async Task<IReadOnlyList<Result>> UpdateBacklogAsync(int transactions)
    {
        var results = new List<Result>();
        foreach (var system in new[] { "native", "pgmm" })
        {
            var source = _a.ConnectionString(system);
            var target = _b.ConnectionString(system);
            if (system == "pgmm" && _worker is null)
            {
                StartWorker();
                await WaitSlotActiveAsync("bench_a_b");
            }
            await Exec(source, "TRUNCATE acct; INSERT INTO acct SELECT g, 0 FROM generate_series(0, 10000) g");
            // Every row fresh on the target too (a repeated run finds the last run's 10,001 rows there, end marker and all).
            await WaitUntilAsync(async () => await Scalar<long>(target, "SELECT count(*) FROM acct WHERE balance = 0") == 10001);
            if (system == "native")
            {
                await Exec(target, "ALTER SUBSCRIPTION s DISABLE");
                await WaitSlotInactiveAsync("native", "s");
            }
            else StopWorker();

            // Each loop iteration commits: one source transaction per update. The last one marks the end.
            await Exec(source, $"""
                SET synchronous_commit = off;
                DO $$ BEGIN
                  FOR i IN 1..{transactions} LOOP
                    UPDATE acct SET balance = balance + 1 WHERE id = 1 + (i * 7919) % 10000;
                    COMMIT;
                  END LOOP;
                  UPDATE acct SET balance = -1 WHERE id = 0;
                END $$;
                """);
            if (system == "native")
            {
                await Exec(target, "ALTER SUBSCRIPTION s ENABLE");
                await WaitSlotActiveAsync("s", "native");
            }
            else
            {
                StartWorker();
                await WaitSlotActiveAsync("bench_a_b");
            }
            var cpuBefore = system == "pgmm" ? ProcessStats.CpuSeconds(_worker!.Id) : 0;
            var clock = Stopwatch.StartNew();
            await WaitUntilAsync(async () => await Scalar<long>(target, "SELECT balance FROM acct WHERE id = 0") == -1);
            results.Add(new Result("single-row UPDATE backlog", system, transactions + 1, "tx", clock.Elapsed.TotalSeconds,
                system == "pgmm" ? ProcessStats.CpuSeconds(_worker!.Id) - cpuBefore : null, system == "pgmm" ? ProcessStats.PeakRssMb(_worker!.Id) : null));
        }
        return results;
    }

    /// <summary>
    /// Replication lag at a fixed load: <paramref name="rate"/> single-row UPDATE transactions per second on the
    /// source, and a heartbeat row stamped with the source's clock every 100 ms; the target polls it and the lag is
    /// the target's clock minus the stamp when a new stamp appears (same machine, one clock).
    /// </summary>
    public async Task<IReadOnlyList<Result>> LagAsync(int rate, TimeSpan duration)
    {
        var results = new List<Result>();
        foreach (var system in new[] { "native", "pgmm" })
        {
            if (system == "pgmm" && _worker is null)
            {
                StartWorker();
                await WaitSlotActiveAsync("bench_a_b");
            }
            var source = _a.ConnectionString(system);
            var target = _b.ConnectionString(system);
            await Exec(source, "INSERT INTO acct SELECT g, 0 FROM generate_series(0, 10000) g ON CONFLICT DO NOTHING");
            // The first seconds are a warm-up for both systems (a worker just started still compiles its hot paths and
            // applies the table's initial rows): not sampled.
            var warmUp = TimeSpan.FromSeconds(3);
            using var stop = new CancellationTokenSource(duration + warmUp);
            var load = Task.Run(async () =>
            {
                await using var conn = new NpgsqlConnection(source);
                await conn.OpenAsync();
                var clock = Stopwatch.StartNew();
                for (long i = 0; !stop.IsCancellationRequested; i++)
                {
                    var due = TimeSpan.FromSeconds((double)i / rate);
                    if (due > clock.Elapsed) await Task.Delay(due - clock.Elapsed);
                    await using var cmd = new NpgsqlCommand($"UPDATE acct SET balance = balance + 1 WHERE id = {i % 10000}", conn);
                    await cmd.ExecuteNonQueryAsync();
                }
            });
            var beat = Task.Run(async () =>
            {
                await using var conn = new NpgsqlConnection(source);
                await conn.OpenAsync();
                while (!stop.IsCancellationRequested)
                {
                    await using var cmd = new NpgsqlCommand("UPDATE heartbeat SET at = clock_timestamp() WHERE id = 1", conn);
                    await cmd.ExecuteNonQueryAsync();
                    await Task.Delay(100);
                }
            });
            // Per heartbeat: total lag, and the part spent before the source committed it (the applied row carries the
            // source's commit timestamp as its own, both natively and with pgmm), to tell source stalls from apply stalls.
            // The target tells us when a heartbeat is applied (an ALWAYS trigger notifies at commit), so the bench waits
            // idle instead of polling: a polling loop took half a core from the two the systems under test share.
            var samples = new List<(double Total, double BeforeCommit, double At)>();
            var runClock = Stopwatch.StartNew();
            await using (var conn = new NpgsqlConnection(target))
            {
                await conn.OpenAsync();
                (DateTime At, DateTime Seen, TimeSpan RunTime)? applied = null;
                conn.Notification += (_, e) => applied = (DateTime.UnixEpoch.AddTicks((long)Math.Round(
                    double.Parse(e.Payload, CultureInfo.InvariantCulture) * TimeSpan.TicksPerSecond)), DateTime.UtcNow, runClock.Elapsed);
                await using (var listen = new NpgsqlCommand("LISTEN bench_heartbeat", conn)) await listen.ExecuteNonQueryAsync();
                while (!stop.IsCancellationRequested)
                {
                    try { await conn.WaitAsync(stop.Token); }
                    catch (OperationCanceledException) { break; }
                    if (applied is not { } b || b.RunTime <= warmUp) continue;
                    // Then, off the clock: the commit timestamp the applied row carries (the next beat is 100 ms away).
                    await using var cmd = new NpgsqlCommand("SELECT at, pg_xact_commit_timestamp(xmin) FROM heartbeat WHERE id = 1", conn);
                    await using var r = await cmd.ExecuteReaderAsync();
                    await r.ReadAsync();
                    var committed = r.GetDateTime(0) == b.At && !r.IsDBNull(1) ? (r.GetDateTime(1) - b.At).TotalMilliseconds : double.NaN;
                    samples.Add(((b.Seen - b.At).TotalMilliseconds, committed, b.RunTime.TotalSeconds));
                }
            }
            await Task.WhenAll(load, beat);
            var lags = samples.Select(x => x.Total).Order().ToList();
            Console.WriteLine($"{system} worst lags ms (of which before the source's commit): " +
                              string.Join(", ", samples.OrderBy(x => x.Total).TakeLast(8).Select(x => $"{x.Total:0} ({x.BeforeCommit:0}) at {x.At - warmUp.TotalSeconds:0.0}s")));
            double P(double q) => lags.Count == 0 ? double.NaN : lags[(int)Math.Min(lags.Count - 1, Math.Floor(q * lags.Count))];
            results.Add(new Result($"lag at {rate} tx/s (heartbeat every 100 ms)", system, lags.Count, "beats", duration.TotalSeconds)
                { LagP50Ms = P(0.50), LagP99Ms = P(0.99) });
        }
        return results;
    }

    public async Task ProtocolFloorAsync()
    {
        await ProtocolFloor.RunAsync(_b.ConnectionString("pgmm"));
        await ProtocolFloor.InsertRunsAsync(_b.ConnectionString("pgmm"));
    }

    /// <summary>One transaction of <paramref name="rows"/> rows: time to apply, and the worker's peak memory.</summary>
    public async Task<Result> BigTransactionAsync(int rows)
    {
        StopWorker();
        await Exec(_a.ConnectionString("pgmm"), "TRUNCATE bulk");
        StartWorker();
        await WaitSlotActiveAsync("bench_a_b");
        await WaitUntilAsync(async () => await Scalar<long>(_b.ConnectionString("pgmm"), "SELECT count(*) FROM bulk") == 0);
        var baseline = ProcessStats.RssMb(_worker!.Id);
        var result = await TimedAsync("one transaction", "pgmm", "pgmm", rows,
            () => Exec(_a.ConnectionString("pgmm"), $"INSERT INTO bulk SELECT g, repeat('x', 100), g % 1000, now() FROM generate_series(1, {rows}) g"),
            lastId: rows, worker: true);
        Console.WriteLine($"(worker RSS before the transaction: {baseline:0} MB)");
        return result;
    }

    /// <summary>
    /// <paramref name="rows"/> rows of <paramref name="megabytes"/> MB, one per transaction, stored uncompressed: time to
    /// apply, and the worker's peak memory. The worker runs with the heap limit .NET takes in the chart's pods (75 % of
    /// the 512 MiB memory limit), as the memory budget is meant for.
    /// </summary>
    public async Task<Result> BigRowsAsync(int rows, int megabytes)
    {
        StopWorker();
        await Exec(_a.ConnectionString("pgmm"), "TRUNCATE bigrows");
        _worker = RunWorker(_configPath, "a", new Dictionary<string, string> { ["DOTNET_GCHeapHardLimit"] = "0x18000000" });
        await WaitSlotActiveAsync("bench_a_b");
        await WaitUntilAsync(async () => await Scalar<long>(_b.ConnectionString("pgmm"), "SELECT count(*) FROM bigrows") == 0);
        var cpuBefore = ProcessStats.CpuSeconds(_worker!.Id);
        var clock = Stopwatch.StartNew();
        for (var i = 1; i <= rows; i++)
            await Exec(_a.ConnectionString("pgmm"), $"INSERT INTO bigrows VALUES ({i}, repeat(md5('{i}'), {megabytes} * 1024 * 1024 / 32))");
        await WaitUntilAsync(async () => await Scalar<bool>(_b.ConnectionString("pgmm"), $"SELECT EXISTS (SELECT 1 FROM bigrows WHERE id = {rows})"));
        return new Result($"{rows} rows of {megabytes} MB, one per transaction", "pgmm", rows, "rows", clock.Elapsed.TotalSeconds,
            ProcessStats.CpuSeconds(_worker!.Id) - cpuBefore, ProcessStats.PeakRssMb(_worker!.Id))
        { Note = "the worker ran with DOTNET_GCHeapHardLimit=384 MiB, as .NET sets it in a pod limited to 512 MiB" };
    }

    private async Task<Result> TimedAsync(string workload, string system, string db, int rows, Func<Task> load,
        long? lastId = null, bool worker = false, double? note = null)
    {
        _ = note;
        var target = _b.ConnectionString(db);
        var cpuBefore = worker ? ProcessStats.CpuSeconds(_worker!.Id) : 0;
        var clock = Stopwatch.StartNew();
        long last = lastId ?? 0;
        if (lastId is null)
        {
            await load();
            last = await Scalar<long>(_a.ConnectionString(db), "SELECT max(id) FROM bulk");
        }
        else await load();
        // Transactions apply in commit order: the last row present means everything before it is too.
        await WaitUntilAsync(async () => await Scalar<bool>(target, $"SELECT EXISTS (SELECT 1 FROM bulk WHERE id = {last})"));
        var seconds = clock.Elapsed.TotalSeconds;
        return new Result(workload, system, rows, "rows", seconds,
            worker ? ProcessStats.CpuSeconds(_worker!.Id) - cpuBefore : null, worker ? ProcessStats.PeakRssMb(_worker!.Id) : null);
    }

    private async Task<long> LoadAsync(string db, long first, int rows, int perTx)
    {
        await using var conn = new NpgsqlConnection(_a.ConnectionString(db));
        await conn.OpenAsync();
        for (var done = 0; done < rows; done += perTx)
        {
            await using var cmd = new NpgsqlCommand(
                "INSERT INTO bulk (id, payload, amount) SELECT g, md5(g::text) || repeat('p', 60), g % 10000 / 100.0 FROM generate_series($1::bigint, $2::bigint) g", conn);
            cmd.Parameters.Add(new NpgsqlParameter { Value = first + done });
            cmd.Parameters.Add(new NpgsqlParameter { Value = first + done + perTx - 1 });
            await cmd.ExecuteNonQueryAsync();
        }
        return first + rows;
    }

    private void StartWorker() => _worker = RunWorker(_configPath, "a");

    /// <summary>A <c>pgmm run</c> process for <paramref name="node"/>, its warnings and errors relayed to stderr.</summary>
    private static Process RunWorker(string config, string node, params string[] extraArgs) =>
        RunWorker(config, node, new Dictionary<string, string>(), extraArgs);

    private static Process RunWorker(string config, string node, IReadOnlyDictionary<string, string> environment, params string[] extraArgs)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var (name, value) in environment) psi.Environment[name] = value;
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "pgmm.dll"), "run", "--config", config, "--node", node, "--Logging:LogLevel:Default=Warning" }.Concat(extraArgs))
            psi.ArgumentList.Add(a);
        var worker = Process.Start(psi)!;
        worker.OutputDataReceived += (_, e) => { if (e.Data is not null) Console.Error.WriteLine($"  worker {node}: " + e.Data); };
        worker.ErrorDataReceived += (_, e) => { if (e.Data is not null) Console.Error.WriteLine($"  worker {node}: " + e.Data); };
        worker.BeginOutputReadLine();
        worker.BeginErrorReadLine();
        return worker;
    }

    private void StopWorker()
    {
        if (_worker is null) return;
        _worker.Kill();
        _worker.WaitForExit();
        _worker = null;
    }

    private async Task WaitNativeStreamingAsync() => await WaitSlotActiveAsync("s", "native");

    private async Task WaitSlotActiveAsync(string slot, string db = "pgmm") =>
        await WaitUntilAsync(async () => await Scalar<bool>(_a.ConnectionString(db),
            $"SELECT coalesce((SELECT active FROM pg_replication_slots WHERE slot_name = '{slot}'), false)"));

    private async Task WaitSlotInactiveAsync(string db, string slot) =>
        await WaitUntilAsync(async () => !await Scalar<bool>(_a.ConnectionString(db),
            $"SELECT coalesce((SELECT active FROM pg_replication_slots WHERE slot_name = '{slot}'), false)"));

    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow.AddMinutes(10);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("benchmark condition not reached in 10 minutes");
            await Task.Delay(10);
        }
    }

    private static async Task Exec(string cs, string sql)
    {
        await using var conn = new NpgsqlConnection(cs);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync();
    }

    private static async Task<T> Scalar<T>(string cs, string sql)
    {
        await using var conn = new NpgsqlConnection(cs);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn);
        return (T)(await cmd.ExecuteScalarAsync())!;
    }

    public async ValueTask DisposeAsync()
    {
        StopWorker();
        try { await Exec(_b.ConnectionString("native"), "ALTER SUBSCRIPTION s DISABLE"); await Exec(_b.ConnectionString("native"), "DROP SUBSCRIPTION s"); }
        catch (NpgsqlException) { }
        foreach (var p in _meshWorkers) { try { p.Kill(); p.WaitForExit(); } catch (InvalidOperationException) { } }
        await _a.DisposeAsync();
        await _b.DisposeAsync();
        foreach (var s in _extra) await s.DisposeAsync();
        try { Directory.Delete(_root, true); } catch (IOException) { }
    }
}
