using PgMultiMaster.LocalServers;

namespace PgMultiMaster.IntegrationTests.Harness;

/// <summary>
/// Three servers that keep what they promise across a crash: <c>fsync=on</c> and <c>full_page_writes=on</c>, unlike
/// the shared ones (<see cref="LocalTestServer.Settings"/>), so a test can kill one with <c>pg_ctl stop -m immediate</c>
/// and see exactly what a real server would have after a power cut. Only local binaries: the tests crash the servers
/// and copy and replace their data folders.
/// </summary>
public sealed class DurableServersFixture : ServersFixture
{
    public static readonly string[] Settings = ["fsync=on", "full_page_writes=on", "shared_buffers=64MB"];

    protected override bool CanUseDocker => false;
    protected override string ClusterPrefix => "d";

    protected override Task<LocalPostgresServer> StartLocalAsync(string name, string root, string binDir) =>
        LocalPostgresServer.StartNewAsync(name, root, binDir, Settings);

    /// <summary>The server named <paramref name="name"/>, with what only local servers can do (crash, data folder).</summary>
    internal LocalTestServer Local(string name) => (LocalTestServer)this[name];

    /// <summary>Sets server parameters with ALTER SYSTEM and reloads; a null value resets that parameter.</summary>
    public async Task ConfigureAsync(string name, IReadOnlyDictionary<string, string?> settings)
    {
        foreach (var (key, value) in settings)
            await Mesh.ExecOnAsync(this[name].ConnectionString("postgres"),
                value is null ? $"ALTER SYSTEM RESET {key}" : $"ALTER SYSTEM SET {key} = '{value}'");
        await Mesh.ExecOnAsync(this[name].ConnectionString("postgres"), "SELECT pg_reload_conf()");
    }
}

[CollectionDefinition(Name)]
public sealed class DurableServersCollection : ICollectionFixture<DurableServersFixture>
{
    public const string Name = "durable servers";
}
