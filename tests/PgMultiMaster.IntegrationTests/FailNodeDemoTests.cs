using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Npgsql;
using PgMultiMaster.Configuration;
using PgMultiMaster.IntegrationTests.Harness;
using PgMultiMaster.Topology;
using Xunit.Abstractions;

namespace PgMultiMaster.IntegrationTests;

/// <summary>
/// <c>pgmm demo --fail-node</c> as an operator runs it: the writers know only one multi-host connection string, north's
/// server is stopped midway and started again, and in the end every node holds every row that was written.
/// </summary>
public sealed class FailNodeDemoTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Writes_go_on_while_a_node_is_down_and_every_node_holds_all_of_them_after_it_comes_back()
    {
        var dir = Path.Combine(Path.GetTempPath(), "pgmm-fail-node-" + Guid.NewGuid().ToString("N")[..8]);
        var (code, text) = await PgmmCli.RunAsync(Path.GetTempPath(), TimeSpan.FromSeconds(300),
            "demo", "--seconds", "9", "--fail-node", "--port", "0", "--keep", "--dir", dir);
        output.WriteLine(text);
        try
        {
            Assert.True(code == 0, text);
            Assert.Contains("through one connection string naming all 3 nodes", text);
            Assert.Contains("north: PostgreSQL stopped; the writers go on with east and west.", text);
            var down = Regex.Match(text, @"north: PostgreSQL started again\. Written while it was down: east (\d+), west (\d+), north (\d+) tx\.");
            Assert.True(down.Success, text);
            Assert.True(Number(down, 1) > 0 && Number(down, 2) > 0, down.Value);
            Assert.Equal(0, Number(down, 3));
            Assert.Matches(@"north: caught up in \d+\.\d s", text);
            Assert.Contains("All 3 nodes match.", text);

            // In the databases, by the harness's own SQL, not the demo's checksums: the same rows everywhere ...
            var nodes = KeptNodes(dir);
            await RowSets.AssertSameAsync(nodes, new ClusterTopology(new PgMultiMasterOptions { Cluster = "demo" }));
            // ... and every transaction the demo counted as committed on a node is there: each wrote one audit row naming
            // that node (a transaction whose COMMIT reply was lost may have added one more, uncounted).
            var written = Regex.Matches(text, @"written: east (\d+) tx, west (\d+) tx, north (\d+) tx")[^1];
            foreach (var (node, connectionString) in nodes)
            {
                await using var conn = await Mesh.OpenAsync(connectionString, default);
                if (Environment.GetEnvironmentVariable("PGMM_PG_MAJOR") is { Length: > 0 } major)
                    Assert.Equal(major, ((int)(await Scalar(conn, "SELECT current_setting('server_version_num')::int", null))! / 10000).ToString(CultureInfo.InvariantCulture));
                for (var i = 0; i < 3; i++)
                {
                    var writer = new[] { "east", "west", "north" }[i];
                    var rows = (long)(await Scalar(conn, "SELECT count(*) FROM public.audit_log WHERE node = $1", writer))!;
                    Assert.True(rows >= Number(written, i + 1), $"{node} holds {rows} audit rows written on {writer}; the demo counted {written.Groups[i + 1].Value}");
                }
            }
        }
        finally
        {
            await PgmmCli.StopKeptDemoAsync(dir);
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    private static long Number(Match m, int group) => long.Parse(m.Groups[group].Value, CultureInfo.InvariantCulture);

    private static async Task<object?> Scalar(NpgsqlConnection conn, string sql, object? arg)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        if (arg is not null) cmd.Parameters.Add(new NpgsqlParameter { Value = arg });
        return await cmd.ExecuteScalarAsync();
    }

    /// <summary>The demo's nodes and their connection strings, from the configuration it kept (with the password).</summary>
    private static List<(string Node, string ConnectionString)> KeptNodes(string dir)
    {
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "appsettings.json")));
        return [.. config.RootElement.GetProperty("PgMultiMaster").GetProperty("Nodes").EnumerateArray()
            .Select(n => (n.GetProperty("Name").GetString()!, n.GetProperty("ConnectionString").GetString()!))];
    }
}
