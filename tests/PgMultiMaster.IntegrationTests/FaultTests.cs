using PgMultiMaster.IntegrationTests.Harness;
using PgMultiMaster.Replication;
using Xunit.Abstractions;

namespace PgMultiMaster.IntegrationTests;

[Collection(ServersCollection.Name)]
public sealed class FaultTests(ServersFixture servers, ITestOutputHelper output)
{
    private const string Schema = """
        CREATE TABLE public.accounts (id bigint PRIMARY KEY, balance bigint NOT NULL);
        CREATE TABLE public.events (seq bigint NOT NULL, payload text);
        """;

    private static void EventsInsertOnly(PgMultiMaster.Configuration.PgMultiMasterOptions o) => o.InsertOnlyTables = ["public.events"];

    [Fact]
    public async Task A_worker_killed_with_SIGKILL_mid_load_loses_nothing_and_applies_nothing_twice()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output, Schema, nodes: 2, configure: EventsInsertOnly);
        await mesh.StartWorkerAsync("west");
        var worker = mesh.StartWorkerProcess("east");

        // events has no key, so a transaction applied twice would leave duplicate seq values behind.
        var load = Task.Run(async () =>
        {
            for (var i = 0; i < 1500; i++)
            {
                var rows = i % 100 == 50 ? 2000 : 1;
                await mesh.ExecAsync("east", $"""
                    INSERT INTO events SELECT {i} * 10000 + g, 'x' FROM generate_series(1, {rows}) g;
                    INSERT INTO accounts VALUES ({i}, 0) ON CONFLICT (id) DO UPDATE SET balance = accounts.balance + 1;
                    UPDATE accounts SET balance = balance + 1 WHERE id = {i / 2};
                    """);
            }
        });

        foreach (var threshold in new[] { 300L, 8000L, 20000L })
        {
            await Mesh.WaitUntilAsync(async () => await mesh.ScalarAsync<long>("west", "SELECT count(*) FROM events") >= threshold
                                                  || worker.HasExited, $"west to receive {threshold} events");
            Assert.False(worker.HasExited, "worker exited by itself:\n" + worker.Output);
            worker.Kill();
            output.WriteLine($"killed the worker with {await mesh.ScalarAsync<long>("west", "SELECT count(*) FROM events")} events on west");
            worker = mesh.StartWorkerProcess("east");
        }
        await load;
        await mesh.AssertConvergedAsync();

        Assert.Equal(await mesh.ScalarAsync<long>("east", "SELECT count(*) FROM events"), await mesh.ScalarAsync<long>("west", "SELECT count(*) FROM events"));
        Assert.Equal(0L, await mesh.ScalarAsync<long>("west", "SELECT count(*) - count(DISTINCT seq) FROM events"));
        Assert.Equal(await mesh.ScalarAsync<long>("east", "SELECT sum(balance)::bigint FROM accounts"),
                     await mesh.ScalarAsync<long>("west", "SELECT sum(balance)::bigint FROM accounts"));
    }

    [Fact]
    public async Task A_worker_stopped_with_SIGTERM_exits_cleanly_and_resumes_where_it_stopped()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output, Schema, nodes: 2, configure: EventsInsertOnly);
        await mesh.StartWorkerAsync("west");
        var worker = mesh.StartWorkerProcess("east");
        await mesh.ExecAsync("east", "INSERT INTO events SELECT g FROM generate_series(1, 100) g");
        await mesh.WaitForCatchUpAsync();
        var code = await worker.TerminateAsync(TimeSpan.FromSeconds(30));
        Assert.True(code == 0, $"exit code {code}:\n{worker.Output}");

        await mesh.ExecAsync("east", "INSERT INTO events SELECT g FROM generate_series(101, 200) g");
        mesh.StartWorkerProcess("east");
        await mesh.AssertConvergedAsync();
        Assert.Equal(200L, await mesh.ScalarAsync<long>("west", "SELECT count(DISTINCT seq) FROM events"));
    }

    [Fact]
    public async Task A_stopped_peer_catches_up_after_restart_while_the_other_links_keep_running()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output, Schema, configure: EventsInsertOnly);
        await mesh.StartAllWorkersAsync();
        await mesh.ExecAsync("east", "INSERT INTO accounts SELECT g, 0 FROM generate_series(1, 100) g");
        await mesh.AssertConvergedAsync();

        var north = servers["north"];
        await north.StopAsync();
        try
        {
            await mesh.ExecAsync("east", "INSERT INTO events SELECT g FROM generate_series(1, 500) g");
            await mesh.ExecAsync("west", "UPDATE accounts SET balance = balance + 10 WHERE id <= 50");
            await mesh.ExecAsync("east", "DELETE FROM accounts WHERE id > 90");

            // The links between the nodes that are up keep going while north is down.
            await Mesh.WaitUntilAsync(async () => await mesh.ScalarAsync<long>("west", "SELECT count(*) FROM events") == 500,
                "east's events on west while north is down");
            await Mesh.WaitUntilAsync(async () => await mesh.ScalarAsync<long>("east", "SELECT sum(balance)::bigint FROM accounts") == 500,
                "west's updates on east while north is down");
            await Mesh.WaitUntilAsync(() => Task.FromResult(mesh.LinkStatuses("east").Single(s => s.Name == "east->north").State == LinkState.BackingOff),
                "the link to the stopped node to back off");
        }
        finally
        {
            await north.StartAsync();
        }

        await mesh.AssertConvergedAsync();
        Assert.Equal(90L, await mesh.ScalarAsync<long>("north", "SELECT count(*) FROM accounts"));
        Assert.Equal(500L, await mesh.ScalarAsync<long>("north", "SELECT count(*) FROM events"));
    }
}
