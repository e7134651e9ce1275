using System.Diagnostics;
using System.Net;
using System.Text.Json;
using NpgsqlTypes;
using PgMultiMaster.IntegrationTests.Harness;
using PgMultiMaster.Replication;
using Xunit.Abstractions;

namespace PgMultiMaster.IntegrationTests;

/// <summary>
/// A link that cannot prove it resumes exactly where its target left off stops and says so (ADR 0013): a target
/// restored from a copy older than what the slot has let go of, a slot dropped, a slot invalidated. And a link that can
/// — after idle periods, echoes and restarts — is never stopped by mistake.
/// </summary>
[Collection(DurableServersCollection.Name)]
public sealed class GapTests(DurableServersFixture servers, ITestOutputHelper output) : IDisposable
{
    private const string Schema = "CREATE TABLE public.items (id int PRIMARY KEY, v text); CREATE SCHEMA scratch; CREATE TABLE scratch.local (n int);";

    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(30) };

    public void Dispose() => _http.Dispose();

    /// <summary>West back to a cold copy of its data folder: everything <paramref name="between"/> did to it is undone.</summary>
    private async Task RestoreWestAsync(Func<Task> between)
    {
        var west = servers.Local("west");
        var copy = west.DataDir + ".copy";
        await west.StopAsync();
        await ShellAsync("cp", "-a", west.DataDir, copy);
        await west.StartAsync();
        await between();
        await west.StopAsync();
        await ShellAsync("rm", "-rf", west.DataDir);
        await ShellAsync("mv", copy, west.DataDir);
        await west.StartAsync();
    }

    private async Task<(HttpStatusCode Code, JsonElement Link)> ReadyzAsync(string url, string target)
    {
        var response = await _http.GetAsync(url + "/readyz");
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
        return (response.StatusCode, body.GetProperty("links").EnumerateArray().Single(l => l.GetProperty("target").GetString() == target));
    }

    private async Task<double> LinkStateMetricAsync(string url, string target, string state) =>
        LiveMesh.ParseMetrics(await _http.GetStringAsync(url + "/metrics"))
            .Where(s => s.Name == "pgmm_link_state" && s.Labels["source"] == "east" && s.Labels["target"] == target && s.Labels["state"] == state)
            .Sum(s => s.Value);

    private static async Task ShellAsync(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        await p.WaitForExitAsync();
        Assert.True(p.ExitCode == 0, $"{file} {string.Join(' ', args)}: {await p.StandardError.ReadToEndAsync()}");
    }

    private static Task<NpgsqlLogSequenceNumber> LsnAsync(Mesh mesh, string node, string sql, params object?[] args) =>
        mesh.ScalarAsync<NpgsqlLogSequenceNumber>(node, sql, args);

    [Fact]
    public async Task A_target_restored_from_a_cold_copy_stops_its_link_naming_both_positions_and_the_way_out()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output, Schema);
        await mesh.StartWorkerAsync("west");
        await mesh.StartWorkerAsync("north");
        var worker = mesh.StartWorkerProcess("east");
        var url = await worker.BaseUrlAsync();
        await mesh.ExecAsync("east", "INSERT INTO items SELECT g, 'before' FROM generate_series(1, 100) g");
        await mesh.WaitForCatchUpAsync();

        // A cold copy of west, then 500 more rows that reach it, then west back to the copy.
        await RestoreWestAsync(async () =>
        {
            await mesh.ExecAsync("east", "INSERT INTO items SELECT g, 'after' FROM generate_series(101, 600) g");
            await mesh.WaitForCatchUpAsync();
            Assert.Equal(600L, await mesh.ScalarAsync<long>("west", "SELECT count(*) FROM items"));
        });
        (HttpStatusCode Code, JsonElement Link) ready = default;
        await Mesh.WaitUntilAsync(async () => (ready = await ReadyzAsync(url, "west")).Link.GetProperty("state").GetString() == "down",
            "east's worker to report the link to west down");
        // Read once the link has stopped: until it noticed west was gone, it went on confirming idle WAL.
        var restored = await LsnAsync(mesh, "west", "SELECT pg_replication_origin_progress($1, true)", mesh.Topology.OriginName("east"));
        var confirmed = await LsnAsync(mesh, "east", "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = $1", mesh.Topology.SlotName("east", "west"));
        Assert.True(restored < confirmed, $"west's restored progress {restored} is not behind the slot's {confirmed}");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.Code);
        var reason = ready.Link.GetProperty("reason").GetString()!;
        Assert.Contains($"gap: west's progress for origin {mesh.Topology.OriginName("east")} is {restored}", reason);
        Assert.Contains($"confirmed_flush_lsn {confirmed}", reason);
        Assert.Contains($"on east run SELECT pg_drop_replication_slot('{mesh.Topology.SlotName("east", "west")}'); then run pgmm init", reason);
        Assert.Contains($"crit: PgMultiMaster.Link.east-west[104] Link east->west: stopped (down) until an operator acts: gap: ", worker.Output);
        Assert.Equal(1, await LinkStateMetricAsync(url, "west", "down"));
        var (code, status) = await PgmmCli.RunAsync(PgmmCli.ConfigDir(mesh), "status");
        Assert.Equal(1, code);
        Assert.Contains($"problem: east -> west: down: gap: west's progress for origin {mesh.Topology.OriginName("east")} is {restored}", status);

        // Nothing is skipped silently: the 500 rows and what east writes now wait in the slot, while north gets it all.
        await mesh.ExecAsync("east", "INSERT INTO items VALUES (601, 'later')");
        await Mesh.WaitUntilAsync(async () => await mesh.ScalarAsync<long>("north", "SELECT count(*) FROM items") == 601, "north to get every row");
        Assert.Equal(100L, await mesh.ScalarAsync<long>("west", "SELECT count(*) FROM items"));
        Assert.Equal("down", (await ReadyzAsync(url, "west")).Link.GetProperty("state").GetString());

        // The way out, as the message says: the slot again, the worker restarted, then the rows the diff shows repaired.
        await mesh.ExecAsync("east", "SELECT pg_drop_replication_slot($1)", mesh.Topology.SlotName("east", "west"));
        var (initCode, initOutput) = await PgmmCli.RunAsync(PgmmCli.ConfigDir(mesh), "init");
        Assert.True(initCode == 0, initOutput);
        Assert.Equal(0, await worker.TerminateAsync(TimeSpan.FromSeconds(30)));
        mesh.StartWorkerProcess("east");
        await mesh.ExecAsync("east", "INSERT INTO items VALUES (602, 'resumed')");
        await mesh.WaitForCatchUpAsync();
        Assert.Equal(1L, await mesh.ScalarAsync<long>("west", "SELECT count(*) FROM items WHERE id = 602"));
        var (diffCode, diff) = await PgmmCli.RunAsync(PgmmCli.ConfigDir(mesh), "diff");
        Assert.True(diffCode == 1, diff);
        var missing = await mesh.RowsAsync("east", "SELECT id, v FROM items WHERE id BETWEEN 101 AND 601 ORDER BY id");
        foreach (var row in missing)
        {
            var parts = row.Split(" | ");
            await mesh.ExecAsync("west", "INSERT INTO items VALUES ($1, $2) ON CONFLICT (id) DO NOTHING", int.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture), parts[1]);
        }
        await mesh.AssertConvergedAsync();
    }

    [Fact]
    public async Task A_node_restored_from_a_cold_copy_stops_its_own_links_before_its_new_writes_are_skipped()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output, Schema);
        await mesh.StartWorkerAsync("east");
        await mesh.StartWorkerAsync("north");
        var worker = mesh.StartWorkerProcess("west");
        await mesh.ExecAsync("west", "INSERT INTO items SELECT g, 'before' FROM generate_series(1, 100) g");
        await mesh.WaitForCatchUpAsync();

        // West writes after the copy is taken; east and north apply it. Then west is back to the copy, and its WAL
        // ends before what its peers applied from it.
        await RestoreWestAsync(async () =>
        {
            await mesh.ExecAsync("west", "INSERT INTO items SELECT g, 'lost by the restore' FROM generate_series(101, 150) g");
            await mesh.WaitForCatchUpAsync();
        });
        var progress = await LsnAsync(mesh, "east", "SELECT pg_replication_origin_progress($1, true)", mesh.Topology.OriginName("west"));
        // Written now, it would sit at a position east and north count as applied.
        await mesh.ExecAsync("west", "INSERT INTO items VALUES (151, 'after the restore')");

        Assert.Equal(1, await worker.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        foreach (var target in new[] { "east", "north" })
            Assert.Contains($"crit: PgMultiMaster.Link.west-{target}[104] Link west->{target}: stopped (down) until an operator acts: west's WAL ends at ", worker.Output);
        Assert.Contains($"before east's progress for origin {mesh.Topology.OriginName("west")} ({progress})", worker.Output);
        Assert.Equal(0L, await mesh.ScalarAsync<long>("east", "SELECT count(*) FROM items WHERE id = 151"));

        // The way out, as the message says.
        foreach (var target in new[] { "east", "north" })
        {
            await mesh.ExecAsync(target, "SELECT pg_replication_origin_drop($1)", mesh.Topology.OriginName("west"));
            await mesh.ExecAsync("west", "SELECT pg_drop_replication_slot($1)", mesh.Topology.SlotName("west", target));
        }
        var (initCode, initOutput) = await PgmmCli.RunAsync(PgmmCli.ConfigDir(mesh), "init");
        Assert.True(initCode == 0, initOutput);
        mesh.StartWorkerProcess("west");
        await mesh.ExecAsync("west", "INSERT INTO items VALUES (152, 'resumed')");
        await mesh.WaitForCatchUpAsync();
        Assert.Equal(1L, await mesh.ScalarAsync<long>("east", "SELECT count(*) FROM items WHERE id = 152"));
    }

    [Fact]
    public async Task Idle_periods_echoes_and_restarts_never_stop_a_link()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output, Schema);
        await mesh.StartAllWorkersAsync();
        await mesh.ExecAsync("east", "INSERT INTO items SELECT g, 'east' FROM generate_series(1, 50) g");
        await mesh.WaitForCatchUpAsync();

        // Then only what holds nothing for west comes through east's slot to west: WAL of a table that does not
        // replicate, and north's rows, which east applies and its link to west skips as echo (north sends them itself).
        var slot = mesh.Topology.SlotName("east", "west");
        var progress = await LsnAsync(mesh, "west", "SELECT pg_replication_origin_progress($1, true)", mesh.Topology.OriginName("east"));
        for (var i = 0; i < 20; i++)
        {
            await mesh.ExecAsync("east", "INSERT INTO scratch.local SELECT g FROM generate_series(1, 100) g");
            await mesh.ExecAsync("north", "INSERT INTO items VALUES ($1, 'north')", 1000 + i);
        }
        await mesh.WaitForCatchUpAsync();
        var confirmed = await LsnAsync(mesh, "east", "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = $1", slot);
        Assert.Equal(progress, await LsnAsync(mesh, "west", "SELECT pg_replication_origin_progress($1, true)", mesh.Topology.OriginName("east")));
        // West's progress is far behind what the slot confirmed, and rightly so: a check of the one against the other
        // would stop this link.
        Assert.True(progress < confirmed, $"the slot ({confirmed}) did not move past west's progress ({progress}) while idle");

        // Workers stopped and started, and west crashed and restarted.
        foreach (var node in mesh.NodeNames) await mesh.StopWorkerAsync(node);
        await servers.Local("west").CrashAsync();
        await servers.Local("west").StartAsync();
        await mesh.StartAllWorkersAsync();
        await mesh.ExecAsync("east", "INSERT INTO items VALUES (51, 'east again')");
        await mesh.AssertConvergedAsync();
        await mesh.WaitForStreamingAsync();
    }

    [Fact]
    public async Task A_dropped_slot_stops_its_link_as_slot_lost_in_readyz_metrics_status_and_the_log()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output, Schema);
        await mesh.StartWorkerAsync("west");
        await mesh.StartWorkerAsync("north");
        var worker = mesh.StartWorkerProcess("east");
        var url = await worker.BaseUrlAsync();
        await mesh.ExecAsync("east", "INSERT INTO items SELECT g, 'x' FROM generate_series(1, 10) g");
        await mesh.WaitForCatchUpAsync();

        // West down: the link backs off and its slot is idle; it is dropped meanwhile.
        var slot = mesh.Topology.SlotName("east", "west");
        await servers.Local("west").StopAsync();
        await Mesh.WaitUntilAsync(async () =>
        {
            try { await mesh.ExecAsync("east", "SELECT pg_drop_replication_slot($1)", slot); return true; }
            catch (Npgsql.PostgresException e) when (e.SqlState == "55006") { return false; } // still in use by the walsender
        }, "the slot to be dropped");
        await mesh.ExecAsync("east", "INSERT INTO items VALUES (11, 'lost for west')");

        // Seen from the source already, while the link cannot even reach west.
        await Mesh.WaitUntilAsync(async () => (await ReadyzAsync(url, "west")).Link.GetProperty("state").GetString() == "slot_lost",
            "readyz to show the slot lost while west is down");
        await servers.Local("west").StartAsync();
        await Mesh.WaitUntilAsync(() => Task.FromResult(worker.Output.Contains("Link east->west: stopped (slot_lost)", StringComparison.Ordinal)),
            "the link to stop once west is back");
        Assert.Contains($"crit: PgMultiMaster.Link.east-west[104] Link east->west: stopped (slot_lost) until an operator acts: slot {slot} is gone (dropped) on east", worker.Output);
        Assert.Contains("Way out: run pgmm init (it creates the slot again), restart the worker of east", worker.Output);
        var (code, link) = await ReadyzAsync(url, "west");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, code);
        Assert.Contains($"link is slot_lost: slot {slot} is gone (dropped) on east", link.GetProperty("reason").GetString());
        Assert.Equal(1, await LinkStateMetricAsync(url, "west", "slot_lost"));
        Assert.Equal(0, await LinkStateMetricAsync(url, "west", "down"));
        Assert.Equal(1, await LinkStateMetricAsync(url, "north", "streaming"));
        var (statusCode, status) = await PgmmCli.RunAsync(PgmmCli.ConfigDir(mesh), "status");
        Assert.Equal(1, statusCode);
        Assert.Contains($"problem: east -> west: slot_lost: slot {slot} is gone (dropped) on east", status);
        Assert.Equal(10L, await mesh.ScalarAsync<long>("west", "SELECT count(*) FROM items"));
    }

    [Fact]
    public async Task An_invalidated_slot_is_lost_for_pgmm_status_without_a_worker_and_stops_the_link_when_it_starts()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output, Schema);
        await mesh.StartWorkerAsync("west");
        await mesh.StartWorkerAsync("north");
        var worker = mesh.StartWorkerProcess("east");
        await mesh.ExecAsync("east", "INSERT INTO items SELECT g, 'x' FROM generate_series(1, 10) g");
        await mesh.WaitForCatchUpAsync();
        Assert.Equal(0, await worker.TerminateAsync(TimeSpan.FromSeconds(30)));
        // No report from east's worker: pgmm status has only the nodes to go by.
        await mesh.ExecAsync("east", "DELETE FROM pgmm.worker_status WHERE node = 'east'");

        await servers.ConfigureAsync("east", new Dictionary<string, string?> { ["max_slot_wal_keep_size"] = "1MB" });
        try
        {
            // WAL beyond what the slots may keep, while nothing reads them: a checkpoint invalidates them.
            await Mesh.WaitUntilAsync(async () =>
            {
                await mesh.ExecAsync("east", "INSERT INTO scratch.local VALUES (1); SELECT pg_switch_wal()");
                await mesh.ExecAsync("east", "CHECKPOINT");
                return await mesh.ScalarAsync<long>("east", "SELECT count(*) FROM pg_replication_slots WHERE database = current_database() AND wal_status = 'lost'") == 2;
            }, "east's slots to be invalidated");
        }
        finally
        {
            await servers.ConfigureAsync("east", new Dictionary<string, string?> { ["max_slot_wal_keep_size"] = null });
        }
        await mesh.ExecAsync("east", "INSERT INTO items VALUES (11, 'lost for west and north')");

        var slot = mesh.Topology.SlotName("east", "west");
        var (code, status) = await PgmmCli.RunAsync(PgmmCli.ConfigDir(mesh), "status");
        Assert.Equal(1, code);
        Assert.Contains($"problem: east -> west: slot_lost (slot invalidated): slot {slot} was invalidated", status);
        Assert.Contains($"on east run SELECT pg_drop_replication_slot('{slot}'); then run pgmm init", status);
        // The other way back, for a target too far behind to repair row by row.
        Assert.Contains("remove it (pgmm node remove west --force) and add it again (pgmm node add)", status);

        // Both of east's links stop for good when its worker starts: the worker exits 1 with a critical line for each.
        worker = mesh.StartWorkerProcess("east");
        Assert.Equal(1, await worker.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        foreach (var target in new[] { "west", "north" })
            Assert.Contains($"crit: PgMultiMaster.Link.east-{target}[104] Link east->{target}: stopped (slot_lost) until an operator acts: slot {mesh.Topology.SlotName("east", target)} was invalidated", worker.Output);
        Assert.Equal(10L, await mesh.ScalarAsync<long>("west", "SELECT count(*) FROM items"));

        // The way out: drop the invalidated slots, init, start the worker; the rows written meanwhile are repaired by hand.
        foreach (var target in new[] { "west", "north" })
            await mesh.ExecAsync("east", "SELECT pg_drop_replication_slot($1)", mesh.Topology.SlotName("east", target));
        var (initCode, initOutput) = await PgmmCli.RunAsync(PgmmCli.ConfigDir(mesh), "init");
        Assert.True(initCode == 0, initOutput);
        mesh.StartWorkerProcess("east");
        await mesh.ExecAsync("east", "INSERT INTO items VALUES (12, 'after')");
        await mesh.WaitForCatchUpAsync();
        Assert.Equal(1L, await mesh.ScalarAsync<long>("west", "SELECT count(*) FROM items WHERE id = 12"));
        Assert.Equal(0L, await mesh.ScalarAsync<long>("west", "SELECT count(*) FROM items WHERE id = 11"));
    }
}
