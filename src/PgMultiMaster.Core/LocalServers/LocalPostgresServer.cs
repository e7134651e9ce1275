using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace PgMultiMaster.LocalServers;

/// <summary>
/// A real PostgreSQL server started from local binaries on a free loopback port, for the demo and the tests.
/// PostgreSQL refuses to run as root, so as root the server runs as an unprivileged user
/// (<c>$PGMM_PG_USER</c>, else <c>postgres</c>, else <c>nobody</c>).
/// </summary>
public sealed class LocalPostgresServer : IAsyncDisposable
{
    private static readonly string[] DefaultSettings =
    [
        "wal_level=logical", "track_commit_timestamp=on", "max_replication_slots=64", "max_wal_senders=64",
        "max_connections=300", "listen_addresses=127.0.0.1", "wal_sender_timeout=60s", "max_worker_processes=16",
    ];

    private readonly string _binDir;
    private readonly string? _runAs;
    private readonly IReadOnlyList<string> _settings;

    public string Name { get; }
    public string DataDir { get; }
    public int Port { get; private set; }
    public int MajorVersion { get; }
    public bool IsRunning { get; private set; }

    private LocalPostgresServer(string name, string binDir, string dataDir, string? runAs, IReadOnlyList<string> settings, bool superuserOverSocket)
    {
        SuperuserOverSocket = superuserOverSocket;
        Name = name;
        _binDir = binDir;
        DataDir = dataDir;
        _runAs = runAs;
        _settings = settings;
        MajorVersion = PostgresBinaries.MajorVersion(binDir);
    }

    /// <summary>
    /// The superuser connects over the server's Unix socket (in its data folder) instead of TCP: for servers whose
    /// pg_hba.conf admits TCP connections only with TLS and a password.
    /// </summary>
    public bool SuperuserOverSocket { get; init; }

    /// <summary>The superuser's password; null: the server trusts every local connection (tests only).</summary>
    public string? SuperuserPassword { get; private init; }

    /// <summary>Connection string for <paramref name="database"/> as the superuser <c>postgres</c>.</summary>
    public string ConnectionString(string database = "postgres") =>
        new NpgsqlConnectionStringBuilder
        {
            Host = SuperuserOverSocket ? DataDir : "127.0.0.1", Port = Port, Username = "postgres", Password = SuperuserPassword, Database = database,
            Pooling = true, MaxPoolSize = 20, Timeout = 15, CommandTimeout = 120,
        }.ConnectionString;

    /// <summary>initdb a fresh data folder under <paramref name="rootDir"/> and start the server.</summary>
    /// <param name="files">Files to write into the data folder before the first start (e.g. pg_hba.conf, TLS
    /// certificates and keys), readable by the server's user only.</param>
    /// <param name="superuserPassword">Every connection needs it (scram-sha-256), local ones too; without one the server
    /// trusts every local connection, which only a throwaway test server may.</param>
    public static async Task<LocalPostgresServer> StartNewAsync(
        string name, string rootDir, string? binDir = null, IEnumerable<string>? extraSettings = null, CancellationToken ct = default,
        IReadOnlyDictionary<string, string>? files = null, bool superuserOverSocket = false, string? superuserPassword = null)
    {
        binDir ??= PostgresBinaries.Find();
        var runAs = Environment.IsPrivilegedProcess ? UnprivilegedUser() : null;
        var dataDir = Path.Combine(rootDir, name);
        Directory.CreateDirectory(rootDir);
        if (runAs is not null) await ChownAsync(runAs, rootDir, ct).ConfigureAwait(false);

        var server = new LocalPostgresServer(name, binDir, dataDir, runAs, [.. DefaultSettings, .. extraSettings ?? []], superuserOverSocket)
        {
            SuperuserPassword = superuserPassword,
        };
        if (superuserPassword is null)
            await server.RunAsync("initdb", ["-D", dataDir, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-locale", "--no-sync"], ct).ConfigureAwait(false);
        else
        {
            // initdb reads the password from a file; it lives only as long as initdb runs.
            var pwfile = Path.Combine(rootDir, $".{name}.pw");
            await File.WriteAllTextAsync(pwfile, superuserPassword, ct).ConfigureAwait(false);
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(pwfile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            if (runAs is not null) await ChownAsync(runAs, pwfile, ct).ConfigureAwait(false);
            try
            {
                await server.RunAsync("initdb", ["-D", dataDir, "-A", "scram-sha-256", "--pwfile", pwfile, "-U", "postgres", "-E", "UTF8", "--no-locale", "--no-sync"], ct)
                    .ConfigureAwait(false);
            }
            finally
            {
                File.Delete(pwfile);
            }
        }
        foreach (var (file, content) in files ?? new Dictionary<string, string>())
        {
            var path = Path.Combine(dataDir, file);
            await File.WriteAllTextAsync(path, content, ct).ConfigureAwait(false);
            // PostgreSQL refuses a private key that others can read.
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            if (runAs is not null) await ChownAsync(runAs, path, ct).ConfigureAwait(false);
        }
        await server.StartAsync(ct).ConfigureAwait(false);
        return server;
    }

    public async Task StartAsync(CancellationToken ct = default)
    {
        // A port found free by binding port 0 and closing again is free only at that instant: another server started
        // in parallel (or any process) may take it before postgres binds it. Reserving it would need postgres to take
        // over an open socket, which it cannot; so the start is the test. When postgres cannot bind a port picked here,
        // it exits and the start is repeated on another one. A server that has run keeps its port on restarts, since
        // connection strings name it.
        var picked = Port == 0;
        var log = Path.Combine(DataDir, "server.log");
        for (var attempt = 1; ; attempt++)
        {
            if (picked) Port = FreePort();
            var options = string.Join(' ', _settings.Append($"port={Port}").Append($"unix_socket_directories={DataDir}").Select(s => "-c " + s));
            var logStart = File.Exists(log) ? new FileInfo(log).Length : 0;
            try
            {
                await RunAsync("pg_ctl", ["-D", DataDir, "-l", log, "-w", "-t", "60", "-o", options, "start"], ct).ConfigureAwait(false);
                break;
            }
            catch (Exception e) when (e is InvalidOperationException or OperationCanceledException)
            {
                // pg_ctl gave up waiting (or was cancelled) while the postmaster may still be starting: never leave it behind.
                await StopLeftoverAsync().ConfigureAwait(false);
                if (e is InvalidOperationException && picked && attempt < 5 && PortWasTaken(log, logStart)) continue;
                throw;
            }
        }
        IsRunning = true;
    }

    // "could not bind IPv4 address "127.0.0.1": Address already in use", then "could not create any TCP/IP sockets".
    private static bool PortWasTaken(string log, long from)
    {
        if (!File.Exists(log)) return false;
        using var stream = new FileStream(log, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        stream.Seek(Math.Min(from, stream.Length), SeekOrigin.Begin);
        var text = new StreamReader(stream).ReadToEnd();
        return text.Contains("could not bind", StringComparison.Ordinal) || text.Contains("Address already in use", StringComparison.Ordinal);
    }

    private async Task StopLeftoverAsync()
    {
        if (!File.Exists(Path.Combine(DataDir, "postmaster.pid"))) return;
        try { await RunAsync("pg_ctl", ["-D", DataDir, "-m", "immediate", "-w", "-t", "30", "stop"], CancellationToken.None).ConfigureAwait(false); }
        catch (InvalidOperationException) { /* not running after all */ }
    }

    /// <summary>Fast shutdown: open sessions are ended, committed data stays.</summary>
    public async Task StopAsync(CancellationToken ct = default)
    {
        if (!IsRunning) return;
        await RunAsync("pg_ctl", ["-D", DataDir, "-m", "fast", "-w", "-t", "60", "stop"], ct).ConfigureAwait(false);
        IsRunning = false;
    }

    /// <summary>
    /// A crash: <c>pg_ctl stop -m immediate</c> ends every server process at once, with no checkpoint and nothing
    /// flushed. The next start runs crash recovery from the WAL, and only what was flushed to it survives.
    /// </summary>
    public async Task CrashAsync(CancellationToken ct = default)
    {
        if (!IsRunning) return;
        await RunAsync("pg_ctl", ["-D", DataDir, "-m", "immediate", "-w", "-t", "60", "stop"], ct).ConfigureAwait(false);
        IsRunning = false;
    }

    public async Task<NpgsqlConnection> OpenAsync(string database = "postgres", CancellationToken ct = default)
    {
        var conn = new NpgsqlConnection(ConnectionString(database));
        await conn.OpenAsync(ct).ConfigureAwait(false);
        return conn;
    }

    public async ValueTask DisposeAsync()
    {
        try { await StopAsync().ConfigureAwait(false); }
        catch (InvalidOperationException) { /* already gone: nothing to stop */ }
        NpgsqlConnection.ClearAllPools();
        try { Directory.Delete(DataDir, recursive: true); }
        catch (IOException) { /* a leftover temp folder is harmless */ }
    }

    private async Task RunAsync(string tool, IReadOnlyList<string> args, CancellationToken ct)
    {
        var exe = Path.Combine(_binDir, tool);
        var psi = _runAs is null ? new ProcessStartInfo(exe) : new ProcessStartInfo("runuser", ["-u", _runAs, "--", exe]);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        psi.WorkingDirectory = Path.GetTempPath();
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"Could not start {exe}.");
        var stdout = p.StandardOutput.ReadToEndAsync(CancellationToken.None);
        var stderr = p.StandardError.ReadToEndAsync(CancellationToken.None);
        // pg_ctl waits at most its -t seconds; initdb has no bound of its own. A tool still running after this, or when
        // the caller gives up, is killed with its children (runuser, initdb's postgres): none is left running.
        using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(3), TimeProvider.System);
        using var either = CancellationTokenSource.CreateLinkedTokenSource(ct, limit.Token);
        try
        {
            await p.WaitForExitAsync(either.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            try { p.Kill(entireProcessTree: true); }
            catch (InvalidOperationException) { /* exited meanwhile */ }
            if (ct.IsCancellationRequested) throw;
            throw new InvalidOperationException($"{tool} for server '{Name}' did not finish within 3 minutes and was killed.");
        }
        if (p.ExitCode != 0)
        {
            var log = Path.Combine(DataDir, "server.log");
            var tail = File.Exists(log) ? string.Join('\n', File.ReadLines(log).TakeLast(20)) : "";
            throw new InvalidOperationException(
                $"{tool} for server '{Name}' failed (exit {p.ExitCode}): {await stderr.ConfigureAwait(false)}{await stdout.ConfigureAwait(false)}\n{tail}");
        }
    }

    private static string UnprivilegedUser()
    {
        var configured = Environment.GetEnvironmentVariable("PGMM_PG_USER");
        if (!string.IsNullOrWhiteSpace(configured)) return configured;
        var passwd = File.Exists("/etc/passwd") ? File.ReadAllLines("/etc/passwd") : [];
        return passwd.Any(l => l.StartsWith("postgres:", StringComparison.Ordinal)) ? "postgres" : "nobody";
    }

    private static async Task ChownAsync(string user, string dir, CancellationToken ct)
    {
        using var p = Process.Start(new ProcessStartInfo("chown", ["-R", user, dir]) { RedirectStandardError = true })
            ?? throw new InvalidOperationException("Could not start chown.");
        await p.WaitForExitAsync(ct).ConfigureAwait(false);
        if (p.ExitCode != 0)
            throw new InvalidOperationException($"chown {user} {dir} failed: {await p.StandardError.ReadToEndAsync(ct).ConfigureAwait(false)}");
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }
}
