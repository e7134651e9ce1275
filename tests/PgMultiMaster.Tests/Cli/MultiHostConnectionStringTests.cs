using Npgsql;
using PgMultiMaster.Cli.Commands.Demo;

namespace PgMultiMaster.Tests.Cli;

/// <summary>The client connection string demo --fail-node writes through: every node's host and port, load balanced.</summary>
public sealed class MultiHostConnectionStringTests
{
    private const string Rest = "Username=postgres;Password=secret;Database=demo;Timeout=15";

    [Fact]
    public void Names_every_node_with_its_port_in_order_and_balances_over_any_of_them()
    {
        var built = new NpgsqlConnectionStringBuilder(MultiHostConnectionString.Build(
            [$"Host=127.0.0.1;Port=5433;{Rest}", $"Host=127.0.0.1;Port=5434;{Rest}", $"Host=north.db;{Rest}"], hostRecheckSeconds: 2));

        Assert.Equal("127.0.0.1:5433,127.0.0.1:5434,north.db:5432", built.Host);
        Assert.True(built.LoadBalanceHosts);
        Assert.Equal("any", built.TargetSessionAttributes);
        Assert.Equal(2, built.HostRecheckSeconds);
        Assert.Equal(("postgres", "secret", "demo", 15), (built.Username, built.Password, built.Database, built.Timeout));
    }

    [Fact]
    public void Npgsql_takes_it_for_a_multi_host_data_source()
    {
        var connectionString = MultiHostConnectionString.Build([$"Host=a;Port=1;{Rest}", $"Host=b;Port=2;{Rest}"], hostRecheckSeconds: 10);
        using var dataSource = NpgsqlDataSource.Create(connectionString);
        Assert.IsType<NpgsqlMultiHostDataSource>(dataSource);
    }

    [Fact]
    public void The_npgsql_example_in_docs_clients_md_is_a_valid_load_balanced_multi_host_connection_string()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "docs", "clients.md"))) dir = dir.Parent;
        var example = File.ReadLines(Path.Combine(dir!.FullName, "docs", "clients.md")).Single(l => l.StartsWith("Host=", StringComparison.Ordinal));

        // Npgsql refuses a keyword it does not know: a misspelt one in the docs fails here.
        var built = new NpgsqlConnectionStringBuilder(example);
        Assert.Equal(["east.db", "west.db", "north.db"], built.Host!.Split(','));
        Assert.True(built.LoadBalanceHosts);
        Assert.Equal("any", built.TargetSessionAttributes);
        Assert.Equal(10, built.HostRecheckSeconds);
    }

    [Theory]
    [InlineData("east", 5433, "east:5433")]
    [InlineData("east:6000", 5433, "east:6000")]
    [InlineData("east,west:6000", 5433, "east:5433|west:6000")]
    [InlineData("::1", 5433, "[::1]:5433")]
    [InlineData("[::1]:6000", 5433, "[::1]:6000")]
    [InlineData("[::1]", 5433, "[::1]:5433")]
    public void A_host_keeps_the_port_it_names_and_gets_the_nodes_port_otherwise(string hosts, int port, string expected) =>
        Assert.Equal(expected.Split('|'), MultiHostConnectionString.HostsWithPort(hosts, port));

    [Fact]
    public void Nodes_that_differ_in_more_than_host_and_port_are_refused()
    {
        var e = Assert.Throws<ArgumentException>(() => MultiHostConnectionString.Build(
            ["Host=a;Username=app;Database=shop", "Host=b;Username=app;Database=other"], hostRecheckSeconds: 10));
        Assert.Contains("differ in more than host and port", e.Message);
        Assert.Throws<ArgumentException>(() => MultiHostConnectionString.Build([], hostRecheckSeconds: 10));
    }
}
