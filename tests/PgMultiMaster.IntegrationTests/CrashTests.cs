using Npgsql;
using PgMultiMaster.Configuration;
using PgMultiMaster.IntegrationTests.Harness;
using PgMultiMaster.Replication;
using Xunit.Abstractions;

namespace PgMultiMaster.IntegrationTests;

/// <summary>
/// Servers that crash (<c>pg_ctl stop -m immediate</c>) with <c>fsync</c> and <c>full_page_writes</c> on, and a worker
/// killed inside a target transaction: nothing is lost and nothing is applied twice. The target commits with
/// <c>synchronous_commit = off</c>, so what makes this hold is that the source slot is confirmed only past what the
/// target has flushed.
/// </summary>
[Collection(DurableServersCollection.Name)]
public sealed class CrashTests(DurableServersFixture servers, ITestOutputHelper output)
{
    // events has no key: a transaction applied twice leaves duplicate seq values, one lost leaves fewer rows.
    private const string Schema = """
        CREATE TABLE public.accounts (id bigint PRIMARY KEY, balance bigint NOT NULL);
        CREATE TABLE public.events (seq bigint NOT NULL, payload text);
        CREATE TABLE public.gate (id int PRIMARY KEY);
        """;

    private const int BatchSize = 500;

    private static void Configure(PgMultiMasterOptions o)
    {
        o.InsertOnlyTables = ["public.events"];
        // Every 20th load transaction (3,000 rows) is larger than a batch: it is open on the target for several round trips.
        o.Apply.BatchSize = BatchSize;
    }

    /// <summary>
    /// Transaction <paramref name="i"/> of the load on east: its own seq values into events, and balances moved. With
    /// <paramref name="survivesCrashes"/>, a transaction cut off by a crash of east is not repeated (whether it
    /// committed is unknown: east's tables are the truth the target is compared with) and the load goes on once east
    /// is back.
    /// </summary>
    private static async Task LoadAsync(Mesh mesh, int transactions, bool survivesCrashes)
    {
        for (var i = 0; i < transactions; i++)
        {
            var rows = i % 20 == 10 ? 3000 : 3;
            var sql = $"""
                INSERT INTO events SELECT {i} * 10000 + g, 'x' FROM generate_series(1, {rows}) g;
                INSERT INTO accounts VALUES ({i % 50}, 1) ON CONFLICT (id) DO UPDATE SET balance = accounts.balance + 1;
                """;
            try
            {
                await mesh.ExecAsync("east", sql);
            }
            catch (NpgsqlException) when (survivesCrashes)
            {
                await Mesh.WaitUntilAsync(async () =>
                {
                    try { return await mesh.ScalarAsync<int>("east", "SELECT 1") == 1; }
                    catch (NpgsqlException) { return false; }
                }, "east to accept connections again");
            }
        }
    }

    /// <summary>Every row of east is on west exactly once, and the balances agree.</summary>
    private async Task AssertExactlyOnceAsync(Mesh mesh)
    {
        await mesh.AssertConvergedAsync();
        var east = await mesh.ScalarAsync<long>("east", "SELECT count(*) FROM events");
        Assert.Equal(east, await mesh.ScalarAsync<long>("west", "SELECT count(*) FROM events"));
        Assert.Equal(0L, await mesh.ScalarAsync<long>("west", "SELECT count(*) - count(DISTINCT seq) FROM events"));
        Assert.Equal(await mesh.ScalarAsync<long>("east", "SELECT coalesce(sum(balance), 0)::bigint FROM accounts"),
                     await mesh.ScalarAsync<long>("west", "SELECT coalesce(sum(balance), 0)::bigint FROM accounts"));
        output.WriteLine($"{east} events on both nodes, each once");
    }

    private const int Transactions = 1000;

    /// <summary>
    /// Waits until west holds <paramref name="threshold"/> events and the link east->west has a target transaction
    /// open there (its apply session has an xid): the moment to crash a server mid-apply.
    /// </summary>
    private async Task WaitMidApplyAsync(Mesh mesh, Task load, long threshold)
    {
        var caughtUp = false;
        await Mesh.WaitUntilAsync(async () =>
        {
            var west = await mesh.ScalarAsync<long>("west", "SELECT count(*) FROM events");
            if (west >= threshold && await mesh.ScalarAsync<bool>("west",
                    "SELECT count(*) > 0 FROM pg_stat_activity WHERE application_name = 'pgmm apply east->west' AND backend_xid IS NOT NULL"))
                return true;
            caughtUp = load.IsCompleted && west == await mesh.ScalarAsync<long>("east", "SELECT count(*) FROM events");
            return caughtUp;
        }, $"west to hold {threshold} events with a transaction of the link open", TimeSpan.FromSeconds(120));
        Assert.False(caughtUp, $"west applied the whole load before it held {threshold} events with a transaction open");
    }

    [Fact]
    public async Task A_target_server_crashed_mid_apply_and_restarted_ends_with_every_row_exactly_once()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output, Schema, nodes: 2, configure: Configure);
        await mesh.StartAllWorkersAsync();
        var west = servers.Local("west");
        var load = Task.Run(() => LoadAsync(mesh, Transactions, survivesCrashes: false));

        foreach (var threshold in new[] { 2000L, 20000L })
        {
            // Mid-apply: west has an open transaction of the link (a large one most of the time) when it dies.
            await WaitMidApplyAsync(mesh, load, threshold);
            var before = await mesh.ScalarAsync<long>("west", "SELECT count(*) FROM events");
            await west.CrashAsync();
            await west.StartAsync();
            // Commits the crash took (not flushed yet) are gone; the slot still has them.
            output.WriteLine($"crashed west with {before} events; {await mesh.ScalarAsync<long>("west", "SELECT count(*) FROM events")} after recovery");
        }
        await load;
        await AssertExactlyOnceAsync(mesh);
    }

    [Fact]
    public async Task A_source_server_crashed_under_load_and_restarted_ends_with_every_row_exactly_once()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output, Schema, nodes: 2, configure: Configure);
        await mesh.StartAllWorkersAsync();
        var east = servers.Local("east");
        var load = Task.Run(() => LoadAsync(mesh, Transactions, survivesCrashes: true));

        foreach (var threshold in new[] { 2000L, 20000L })
        {
            await WaitMidApplyAsync(mesh, load, threshold);
            await east.CrashAsync();
            await east.StartAsync();
            output.WriteLine($"crashed east with {await mesh.ScalarAsync<long>("west", "SELECT count(*) FROM events")} events on west");
        }
        await load;
        // The slot's position is saved at checkpoints: after the crash the source sends again transactions west had
        // already applied, and the link skips them by the origin's progress.
        await AssertExactlyOnceAsync(mesh);
    }

    [Fact]
    public async Task The_slot_is_confirmed_only_past_what_the_target_has_flushed_so_a_target_crash_loses_nothing()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output, Schema, nodes: 2, configure: Configure);
        // West flushes its WAL only every 3 s (and not by size): its asynchronous commits stay in memory that long.
        await servers.ConfigureAsync("west", new Dictionary<string, string?> { ["wal_writer_delay"] = "3s", ["wal_writer_flush_after"] = "1GB" });
        try
        {
            await mesh.StartAllWorkersAsync();
            await mesh.WaitForCatchUpAsync();
            for (var i = 0; i < 50; i++) await mesh.ExecAsync("east", $"INSERT INTO events SELECT {i} * 10 + g FROM generate_series(1, 5) g");
            var written = await mesh.ScalarAsync<NpgsqlTypes.NpgsqlLogSequenceNumber>("east", "SELECT pg_current_wal_lsn()");
            var slot = mesh.Topology.SlotName("east", "west");

            await Mesh.WaitUntilAsync(async () => await mesh.ScalarAsync<NpgsqlTypes.NpgsqlLogSequenceNumber>("east",
                "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = $1", slot) >= written, "the slot to confirm the 50 transactions");
            // The slot has let go of them: west's commit of the last one must be on its disk.
            var (applied, flushed) = await OriginLocalAndFlushedAsync(mesh);
            Assert.True(applied <= flushed, $"the slot confirmed a transaction whose commit west had not flushed (commit ends at {applied}, flushed to {flushed})");

            await servers.Local("west").CrashAsync();
            await servers.Local("west").StartAsync();
            await Mesh.WaitUntilAsync(async () => mesh.LinkStatuses("east").Single().State == LinkState.Failed
                || await mesh.ScalarAsync<long>("west", "SELECT count(*) FROM events") == 250, "west to hold the 250 rows after its crash");
            Assert.NotEqual(LinkState.Failed, mesh.LinkStatuses("east").Single().State);
            await AssertExactlyOnceAsync(mesh);
        }
        finally
        {
            await servers.ConfigureAsync("west", new Dictionary<string, string?> { ["wal_writer_delay"] = null, ["wal_writer_flush_after"] = null });
        }
    }

    /// <summary>Where west's commit of the last transaction from east ends, and how far west has flushed its WAL.</summary>
    private static async Task<(NpgsqlTypes.NpgsqlLogSequenceNumber Applied, NpgsqlTypes.NpgsqlLogSequenceNumber Flushed)> OriginLocalAndFlushedAsync(Mesh mesh)
    {
        await using var conn = await mesh.OpenAsync("west");
        await using var cmd = new NpgsqlCommand(
            "SELECT local_lsn, pg_current_wal_flush_lsn() FROM pg_replication_origin_status WHERE external_id = $1", conn);
        cmd.Parameters.Add(new NpgsqlParameter { Value = mesh.Topology.OriginName("east") });
        await using var r = await cmd.ExecuteReaderAsync();
        Assert.True(await r.ReadAsync(), "west has no progress for east's origin");
        return (r.GetFieldValue<NpgsqlTypes.NpgsqlLogSequenceNumber>(0), r.GetFieldValue<NpgsqlTypes.NpgsqlLogSequenceNumber>(1));
    }

    [Fact]
    public async Task A_worker_killed_inside_a_large_target_transaction_leaves_it_rolled_back_and_it_is_sent_again_whole()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output, Schema, nodes: 2, configure: Configure);
        await mesh.StartWorkerAsync("west");
        var worker = mesh.StartWorkerProcess("east");
        await mesh.ExecAsync("east", "INSERT INTO events VALUES (0, 'first')");
        await Mesh.WaitUntilAsync(async () => await mesh.ScalarAsync<long>("west", "SELECT count(*) FROM events") == 1, "the first row on west");

        // The gate row comes in the middle of a transaction 20 batches long: holding its table locked on west stops the
        // apply there, with ten batches of the transaction sent and not committed.
        await using var blocker = await mesh.OpenAsync("west");
        await using (var lockGate = new NpgsqlCommand("BEGIN; LOCK TABLE gate IN ACCESS EXCLUSIVE MODE", blocker))
            await lockGate.ExecuteNonQueryAsync();
        await mesh.ExecAsync("east", $"""
            BEGIN;
            INSERT INTO events SELECT g, 'big' FROM generate_series(1, {BatchSize * 10}) g;
            INSERT INTO gate VALUES (1);
            INSERT INTO events SELECT g, 'big' FROM generate_series({BatchSize * 10 + 1}, {BatchSize * 20}) g;
            COMMIT;
            """);
        const string apply = "FROM pg_stat_activity WHERE application_name = 'pgmm apply east->west'";
        await Mesh.WaitUntilAsync(async () => await mesh.ScalarAsync<bool>("west", $"SELECT count(*) > 0 {apply} AND wait_event_type = 'Lock' AND backend_xid IS NOT NULL"),
            "the apply session to wait for the gate inside the large transaction");
        var xid = await mesh.ScalarAsync<string>("west", $"SELECT backend_xid::text {apply}");

        worker.Kill();
        await using (var unlock = new NpgsqlCommand("ROLLBACK", blocker)) await unlock.ExecuteNonQueryAsync();
        await Mesh.WaitUntilAsync(async () => await mesh.ScalarAsync<long>("west", $"SELECT count(*) {apply}") == 0, "the killed worker's apply session to end");
        // Fresh servers are in xid epoch 0: the 32-bit xid is the full one.
        Assert.Equal("aborted", await mesh.ScalarAsync<string>("west", "SELECT pg_xact_status($1::xid8)", xid));
        Assert.Equal(0L, await mesh.ScalarAsync<long>("west", "SELECT count(*) FROM events WHERE payload = 'big'"));
        var progress = await mesh.ScalarAsync<string>("west", "SELECT pg_replication_origin_progress($1, true)::text", mesh.Topology.OriginName("east"));

        var restarted = mesh.StartWorkerProcess("east");
        await mesh.WaitForCatchUpAsync();
        Assert.Equal((long)BatchSize * 20, await mesh.ScalarAsync<long>("west", "SELECT count(*) FROM events WHERE payload = 'big'"));
        Assert.Equal(0L, await mesh.ScalarAsync<long>("west", "SELECT count(*) - count(DISTINCT seq) FROM events"));
        // Sent again whole: one target transaction, not the one that was killed.
        var xmins = await mesh.RowsAsync("west", "SELECT DISTINCT xmin::text FROM events WHERE payload = 'big' UNION ALL SELECT xmin::text FROM gate");
        Assert.Single(xmins.Distinct());
        Assert.NotEqual(xid, xmins[0]);
        // The new worker resumed from the progress west kept, which is before the large transaction.
        Assert.Contains($"Link east->west: streaming slot {mesh.Topology.SlotName("east", "west")} from {progress}", restarted.Output);
        await mesh.AssertConvergedAsync();
    }
}
