using PgMultiMaster.LocalServers;

namespace PgMultiMaster.IntegrationTests.Harness;

/// <summary>A server started from local binaries (initdb/pg_ctl): the backend CI uses.</summary>
internal sealed class LocalTestServer(LocalPostgresServer server) : ITestServer
{
    // Durability is not under test here (servers are stopped cleanly); fsync=off keeps the suite fast on 2 cores.
    public static readonly string[] Settings = ["fsync=off", "full_page_writes=off", "shared_buffers=64MB"];

    public string Name => server.Name;
    public int MajorVersion => server.MajorVersion;
    public string ConnectionString(string database) => server.ConnectionString(database);

    /// <summary>The server's data folder (stopped servers only may have it copied or replaced).</summary>
    public string DataDir => server.DataDir;

    public async Task StopAsync()
    {
        await server.StopAsync();
        // Pooled connections to a stopped server are dead: drop them so the next test query reconnects.
        Npgsql.NpgsqlConnection.ClearAllPools();
    }

    /// <summary><c>pg_ctl stop -m immediate</c>: what was not flushed to the WAL is gone (see <see cref="DurableServersFixture"/>).</summary>
    public async Task CrashAsync()
    {
        await server.CrashAsync();
        Npgsql.NpgsqlConnection.ClearAllPools();
    }

    public Task StartAsync() => server.StartAsync();
    public ValueTask DisposeAsync() => server.DisposeAsync();
}
