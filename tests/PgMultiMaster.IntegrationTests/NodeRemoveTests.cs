using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Npgsql;
using PgMultiMaster.Configuration;
using PgMultiMaster.IntegrationTests.Harness;
using PgMultiMaster.LocalServers;
using Xunit.Abstractions;

namespace PgMultiMaster.IntegrationTests;

/// <summary>
/// <c>pgmm node remove</c> on a running cluster: graceful (what the node wrote reaches the others first) and forced (its
/// server is gone); the survivors' slots and origins for it are gone and their links go on. And the WAL-retained bound of
/// <c>pgmm status</c>.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class NodeRemoveTests(ServersFixture servers, ITestOutputHelper output)
{
    private const string Schema = "CREATE TABLE public.t (id int PRIMARY KEY, node text NOT NULL);";

    private static PgMultiMasterOptions ReadConfig(string dir) =>
        new ConfigurationBuilder().AddJsonFile(Path.Combine(dir, "appsettings.json")).Build().GetSection("PgMultiMaster").Get<PgMultiMasterOptions>()!;

    private static async Task WriteRowsAsync(Mesh mesh, string node, int from, int count)
    {
        await using var conn = await mesh.OpenAsync(node);
        for (var i = from; i < from + count; i++)
        {
            await using var cmd = new NpgsqlCommand("INSERT INTO public.t VALUES ($1, $2)", conn);
            cmd.Parameters.Add(new NpgsqlParameter { Value = i });
            cmd.Parameters.Add(new NpgsqlParameter { Value = node });
            await cmd.ExecuteNonQueryAsync();
        }
    }

    /// <summary>What is left of the cluster's objects for <paramref name="removed"/> on <paramref name="node"/>'s server.</summary>
    private static async Task<(long Slots, long Origins)> LeftForAsync(Mesh mesh, string node, string removed) =>
        (await mesh.ScalarAsync<long>(node, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1", mesh.Topology.SlotName(node, removed)),
         await mesh.ScalarAsync<long>(node, "SELECT count(*) FROM pg_replication_origin WHERE roname = $1", mesh.Topology.OriginName(removed)));

    private static async Task RestartSurvivorsWithoutAsync(Mesh mesh, string removed)
    {
        mesh.Options.Nodes.RemoveAll(n => n.Name == removed);
        foreach (var n in mesh.NodeNames)
        {
            await mesh.StopWorkerAsync(n);
            await mesh.StartWorkerAsync(n);
        }
    }

    [Fact]
    public async Task Graceful_remove_applies_what_the_node_wrote_everywhere_then_drops_its_slots_and_origins_and_the_rest_replicates()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output, Schema);
        await mesh.StartAllWorkersAsync();
        await WriteRowsAsync(mesh, "east", 1000, 50);
        await WriteRowsAsync(mesh, "west", 2000, 50);
        await mesh.WaitForCatchUpAsync();
        var oldConfig = PgmmCli.ConfigDir(mesh);
        var dir = PgmmCli.ConfigDir(mesh);
        var retriesBefore = mesh.LinkStatuses("east").Single(l => l.Target == "north").Retries;

        // North's last writes have not been waited for: the removal itself must bring them to east and west.
        await WriteRowsAsync(mesh, "north", 3000, 300);
        var (code, text) = await PgmmCli.RunAsync(dir, "node", "remove", "north", "--write-config");
        output.WriteLine(text);
        Assert.True(code == 0, text);

        foreach (var survivor in new[] { "east", "west" })
        {
            Assert.Equal(300L, await mesh.ScalarAsync<long>(survivor, "SELECT count(*) FROM public.t WHERE node = 'north'"));
            Assert.Equal((0L, 0L), await LeftForAsync(mesh, survivor, "north"));
            // The survivors' own links are untouched.
            Assert.Equal(1L, await mesh.ScalarAsync<long>(survivor, "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE $1", $"{mesh.Options.Cluster}\\_{survivor}\\_%"));
        }
        // North itself keeps nothing of the cluster but its pgmm schema's records.
        Assert.Equal(0L, await mesh.ScalarAsync<long>("north", "SELECT count(*) FROM pg_replication_slots WHERE database = current_database()"));
        Assert.Equal(0L, await mesh.ScalarAsync<long>("north", "SELECT count(*) FROM pg_replication_origin WHERE roname LIKE $1", mesh.Options.Cluster + "\\_%"));
        Assert.Equal(0L, await mesh.ScalarAsync<long>("north", "SELECT count(*) FROM pg_publication"));
        Assert.Equal(0L, await mesh.ScalarAsync<long>("north", "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'pgmm\\_tombstone%'"));
        Assert.Equal(0L, await mesh.ScalarAsync<long>("north", "SELECT count(*) FROM pgmm.node"));
        Assert.Equal(["east", "west"], ReadConfig(dir).Nodes.Select(n => n.Name));
        Assert.Contains("Then restart the workers of east, west one at a time", text);

        // Until the survivors restart, their links to north retry; none is reported as a lost slot.
        await Mesh.WaitUntilAsync(() => Task.FromResult(mesh.LinkStatuses("east").Single(l => l.Target == "north").Retries > retriesBefore),
            "east->north to retry after its sessions were ended");
        var (_, json) = await PgmmCli.RunAsync(oldConfig, "status", "--json");
        var states = JsonDocument.Parse(json[..(json.LastIndexOf('}') + 1)]).RootElement.GetProperty("nodes").EnumerateArray()
            .SelectMany(n => n.GetProperty("links").EnumerateArray()).Select(l => l.GetProperty("state").GetString()).ToList();
        Assert.DoesNotContain("slot_lost", states);

        await mesh.StopWorkerAsync("north");
        await RestartSurvivorsWithoutAsync(mesh, "north");
        await WriteRowsAsync(mesh, "east", 4000, 20);
        await WriteRowsAsync(mesh, "west", 5000, 20);
        await mesh.AssertConvergedAsync();
        Assert.Equal(440L, await mesh.ScalarAsync<long>("west", "SELECT count(*) FROM public.t"));
        // With the written configuration, status is clean again.
        await Mesh.WaitUntilAsync(async () => (await PgmmCli.RunAsync(dir, "status")).Code == 0, "pgmm status to exit 0 after the rolling restart");
    }

    [Fact]
    public async Task Forced_remove_of_a_node_whose_server_is_gone_releases_the_survivors_WAL_and_says_what_is_lost()
    {
        if (servers.Backend != "local") return; // needs a server of its own to stop
        var root = Path.Combine(Path.GetTempPath(), $"pgmm-gone-{Environment.ProcessId}-{Guid.NewGuid():N}"[..40]);
        await using var gone = await LocalPostgresServer.StartNewAsync("gone", root);
        try
        {
            await using var mesh = await Mesh.CreateAsync(servers, output, Schema, nodes: 2, init: false);
            await using (var conn = await gone.OpenAsync())
            await using (var create = new NpgsqlCommand($"CREATE DATABASE {mesh.Database}", conn))
                await create.ExecuteNonQueryAsync();
            await using (var conn = await gone.OpenAsync(mesh.Database))
            await using (var ddl = new NpgsqlCommand(Schema, conn))
                await ddl.ExecuteNonQueryAsync();
            mesh.Options.Nodes.Add(new NodeOptions { Name = "gone", ConnectionString = gone.ConnectionString(mesh.Database) });
            await mesh.InitAsync();
            await mesh.StartAllWorkersAsync();
            await WriteRowsAsync(mesh, "gone", 1, 20);
            await WriteRowsAsync(mesh, "east", 100, 20);
            await mesh.WaitForCatchUpAsync();

            await mesh.StopWorkerAsync("gone");
            await gone.StopAsync();
            // East goes on writing: its slot toward gone keeps that WAL.
            await WriteRowsAsync(mesh, "east", 200, 200);
            var retained = await mesh.ScalarAsync<long>("east", "SELECT (pg_current_wal_lsn() - restart_lsn)::bigint FROM pg_replication_slots WHERE slot_name = $1",
                mesh.Topology.SlotName("east", "gone"));
            Assert.True(retained > 0);

            var dir = PgmmCli.ConfigDir(mesh);
            var (refused, why) = await PgmmCli.RunAsync(dir, "node", "remove", "gone");
            Assert.Equal(1, refused);
            Assert.Contains("node 'gone' cannot be reached", why);
            Assert.Contains("--force", why);
            Assert.Equal((1L, 1L), await LeftForAsync(mesh, "east", "gone"));

            var (code, text) = await PgmmCli.RunAsync(dir, "node", "remove", "gone", "--force", "--write-config");
            output.WriteLine(text);
            Assert.True(code == 0, text);
            Assert.Contains("changes written on 'gone' that a node has not applied yet are lost", text);
            Assert.Contains("warning: node 'gone' cannot be reached", text);
            foreach (var survivor in new[] { "east", "west" })
                Assert.Equal((0L, 0L), await LeftForAsync(mesh, survivor, "gone"));
            Assert.Equal(["east", "west"], ReadConfig(dir).Nodes.Select(n => n.Name));

            await RestartSurvivorsWithoutAsync(mesh, "gone");
            await WriteRowsAsync(mesh, "west", 500, 20);
            await mesh.AssertConvergedAsync();
            Assert.Equal(20L, await mesh.ScalarAsync<long>("west", "SELECT count(*) FROM public.t WHERE node = 'gone'"));
        }
        finally
        {
            await gone.DisposeAsync();
            try { Directory.Delete(root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    [Fact]
    public async Task Status_fails_and_names_a_slot_retaining_more_WAL_than_the_bound()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output, Schema, nodes: 2);
        await mesh.StartAllWorkersAsync();
        await WriteRowsAsync(mesh, "east", 1, 10);
        await mesh.WaitForCatchUpAsync();
        var dir = PgmmCli.ConfigDir(mesh);
        await Mesh.WaitUntilAsync(async () => (await PgmmCli.RunAsync(dir, "status")).Code == 0, "pgmm status to exit 0 within the default bounds");

        var (code, text) = await PgmmCli.RunAsync(dir, "status", "--PgMultiMaster:Monitoring:MaxWalRetainedBytes=1");
        output.WriteLine(text);
        Assert.Equal(1, code);
        Assert.Contains("(over)", text);
        Assert.Contains($"problem: east -> west: its slot retains", text);
        Assert.Contains("over Monitoring:MaxWalRetainedBytes 1 B: bring west back, or if it is gone for good, pgmm node remove west --force releases it", text);

        var (_, json) = await PgmmCli.RunAsync(dir, "status", "--json", "--PgMultiMaster:Monitoring:MaxWalRetainedBytes=1");
        Assert.Equal(1, JsonDocument.Parse(json[..(json.LastIndexOf('}') + 1)]).RootElement.GetProperty("maxWalRetainedBytes").GetInt64());
    }

    [Fact]
    public async Task An_unknown_node_is_refused_with_the_nearest_name_and_nothing_changes()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output, Schema, nodes: 3);
        var dir = PgmmCli.ConfigDir(mesh);
        var before = await File.ReadAllTextAsync(Path.Combine(dir, "appsettings.json"));
        var (code, text) = await PgmmCli.RunAsync(dir, "node", "remove", "nroth", "--write-config");
        Assert.Equal(2, code);
        Assert.Contains("pgmm node: no node named 'nroth' in PgMultiMaster:Nodes; did you mean 'north'?", text);
        Assert.Equal(before, await File.ReadAllTextAsync(Path.Combine(dir, "appsettings.json")));
        Assert.Equal((1L, 1L), await LeftForAsync(mesh, "east", "north"));
    }
}
