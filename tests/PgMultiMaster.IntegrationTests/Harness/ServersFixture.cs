using System.Diagnostics;
using Npgsql;
using PgMultiMaster.LocalServers;

namespace PgMultiMaster.IntegrationTests.Harness;

/// <summary>
/// Three real PostgreSQL servers (east, west, north) shared by every integration test; each test works in its own
/// databases under its own cluster name. Local binaries by default ($PGMM_PG_BINDIR picks the version); Docker via
/// Testcontainers when a daemon answers, or when PGMM_TEST_BACKEND=docker.
/// </summary>
public class ServersFixture : IAsyncLifetime
{
    public static readonly string[] NodeNames = ["east", "west", "north"];
    private string? _root;
    private int _next;

    /// <summary>Where the servers' data folders (and anything else the fixture writes) live.</summary>
    protected string Root => _root ??= Path.Combine(Path.GetTempPath(), $"pgmm-tests-{Environment.ProcessId}-{GetType().Name}");

    public IReadOnlyList<ITestServer> Servers { get; private set; } = [];
    public string Backend { get; private set; } = "local";

    public ITestServer this[string name] => Servers.Single(s => s.Name == name);

    public virtual async Task InitializeAsync()
    {
        // Binaries named explicitly win over Docker, so a run meant for one version never tests another.
        Backend = !CanUseDocker ? "local" : Environment.GetEnvironmentVariable("PGMM_TEST_BACKEND")
                  ?? (string.IsNullOrEmpty(Environment.GetEnvironmentVariable(PostgresBinaries.BinDirVariable)) && DockerAnswers() ? "docker" : "local");
        var servers = new List<ITestServer>();
        if (Backend == "docker")
        {
            var major = int.Parse(Environment.GetEnvironmentVariable("PGMM_TEST_PG_VERSION") ?? "17", System.Globalization.CultureInfo.InvariantCulture);
            foreach (var name in NodeNames) servers.Add(await ContainerTestServer.StartNewAsync(name, major));
            Servers = servers;
            await AssertVersionAsync(binDir: null, imageMajor: major);
        }
        else
        {
            var binDir = PostgresBinaries.Find();
            var started = await Task.WhenAll(NodeNames.Select(name => StartLocalAsync(name, Root, binDir)));
            servers.AddRange(started.Select(s => new LocalTestServer(s)));
            Servers = servers;
            await AssertVersionAsync(binDir, imageMajor: null);
        }
    }

    private async Task AssertVersionAsync(string? binDir, int? imageMajor)
    {
        try
        {
            await ServerVersions.AssertAsync(Servers, binDir, imageMajor);
        }
        catch
        {
            // Stopped at once, whether or not the runner disposes a fixture that failed to start (then nothing is left to).
            await DisposeAsync();
            Servers = [];
            throw;
        }
    }

    /// <summary>False for servers that only local binaries can be set up as (files in the data folder).</summary>
    protected virtual bool CanUseDocker => true;

    protected virtual Task<LocalPostgresServer> StartLocalAsync(string name, string root, string binDir) =>
        LocalPostgresServer.StartNewAsync(name, root, binDir, LocalTestServer.Settings);

    /// <summary>A fresh cluster name, also used as the database name on every server.</summary>
    public string NextClusterName() => $"{ClusterPrefix}{Environment.ProcessId % 1000}_{Interlocked.Increment(ref _next)}";

    /// <summary>Starts every cluster name of this fixture, so two fixtures never hand out the same one.</summary>
    protected virtual string ClusterPrefix => "t";

    public virtual async Task DisposeAsync()
    {
        foreach (var s in Servers) await s.DisposeAsync();
        NpgsqlConnection.ClearAllPools();
        if (_root is not null)
        {
            try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
        }
    }

    private static bool DockerAnswers()
    {
        if (Environment.GetEnvironmentVariable("DOCKER_HOST") is null && !File.Exists("/var/run/docker.sock")) return false;
        try
        {
            using var p = Process.Start(new ProcessStartInfo("docker", "info") { RedirectStandardOutput = true, RedirectStandardError = true });
            if (p is null) return false;
            if (!p.WaitForExit(10_000)) { p.Kill(); return false; }
            return p.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }
}

[CollectionDefinition(Name)]
public sealed class ServersCollection : ICollectionFixture<ServersFixture>
{
    public const string Name = "servers";
}
