using System.Net;
using System.Net.Sockets;
using Npgsql;
using Testcontainers.PostgreSql;

namespace PgMultiMaster.IntegrationTests.Harness;

/// <summary>A server in a Docker container (Testcontainers), used when a Docker daemon is reachable.</summary>
internal sealed class ContainerTestServer : ITestServer
{
    private readonly PostgreSqlContainer _container;
    private readonly int _port;

    private ContainerTestServer(string name, int major, PostgreSqlContainer container, int port)
    {
        Name = name;
        MajorVersion = major;
        _container = container;
        _port = port;
    }

    public string Name { get; }
    public int MajorVersion { get; }

    public static async Task<ContainerTestServer> StartNewAsync(string name, int major)
    {
        // A fixed host port, so connection strings stay valid across a stop and start of the container.
        var port = FreePort();
        var container = new PostgreSqlBuilder($"postgres:{major}")
            .WithPortBinding(port, 5432)
            .WithUsername("postgres").WithPassword("postgres")
            .WithCommand("-c", "wal_level=logical", "-c", "track_commit_timestamp=on", "-c", "max_replication_slots=64",
                "-c", "max_wal_senders=64", "-c", "max_connections=300", "-c", "fsync=off")
            .Build();
        await container.StartAsync();
        return new ContainerTestServer(name, major, container, port);
    }

    public string ConnectionString(string database) => new NpgsqlConnectionStringBuilder
    {
        Host = "127.0.0.1", Port = _port, Username = "postgres", Password = "postgres", Database = database, Timeout = 15, CommandTimeout = 120,
    }.ConnectionString;

    public async Task StopAsync()
    {
        await _container.StopAsync();
        NpgsqlConnection.ClearAllPools();
    }

    public Task StartAsync() => _container.StartAsync();
    public ValueTask DisposeAsync() => _container.DisposeAsync();

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }
}
