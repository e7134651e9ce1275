using PgMultiMaster.Configuration;
using PgMultiMaster.IntegrationTests.Harness;
using Xunit.Abstractions;

namespace PgMultiMaster.IntegrationTests;

[Collection(ServersCollection.Name)]
public sealed class DeadLetterTests(ServersFixture servers, ITestOutputHelper output)
{
    private const string Schema = """
        CREATE TABLE public.items (id int PRIMARY KEY, name text);
        CREATE TABLE public.other (id int PRIMARY KEY);
        """;

    [Fact]
    public async Task A_schema_mismatch_is_parked_the_stream_goes_on_and_the_change_applies_once_the_schema_is_fixed()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output, Schema, nodes: 2,
            configure: o => o.Conflicts.RetryInterval = TimeSpan.FromMilliseconds(500));
        await mesh.StartAllWorkersAsync();
        await mesh.ExecAsync("east", "ALTER TABLE items ADD COLUMN extra text");
        await mesh.ExecAsync("east", "INSERT INTO items VALUES (1, 'needs extra', 'x')");
        await mesh.ExecAsync("east", "INSERT INTO other VALUES (1)");
        await mesh.WaitForCatchUpAsync();

        Assert.Equal(1L, await mesh.ScalarAsync<long>("west", "SELECT count(*) FROM other"));
        Assert.Equal(0L, await mesh.ScalarAsync<long>("west", "SELECT count(*) FROM items"));
        var dir = PgmmCli.ConfigDir(mesh);
        var (code, text) = await PgmmCli.RunAsync(dir, "dead-letter", "list");
        Assert.Equal(0, code);
        Assert.Contains("schema_mismatch", text);
        Assert.Contains("lacks column(s) \"extra\"", await mesh.ScalarAsync<string>("west", "SELECT reason FROM pgmm.dead_letter"));
        Assert.Contains("1 parked change(s).", text);

        await mesh.ExecAsync("west", "ALTER TABLE items ADD COLUMN extra text");
        await Mesh.WaitUntilAsync(async () => await mesh.ScalarAsync<long>("west", "SELECT count(*) FROM pgmm.dead_letter") == 0, "the parked change to be retried");
        await mesh.ExecAsync("east", "INSERT INTO items VALUES (2, 'after the fix', 'y')");
        await mesh.AssertConvergedAsync();
        Assert.Equal(["1 | x", "2 | y"], await mesh.RowsAsync("west", "SELECT id, extra FROM items ORDER BY id"));
    }

    [Fact]
    public async Task A_person_can_list_show_retry_and_discard_parked_changes_and_see_conflicts()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output, Schema, nodes: 2, configure: o =>
        {
            o.Conflicts.Default.Strategy = "DeadLetter";
            o.Conflicts.RetryInterval = TimeSpan.FromMilliseconds(500);
        });
        await mesh.ExecAsync("east", "INSERT INTO items VALUES (1, 'east'), (2, 'east')");
        await mesh.ExecAsync("west", "INSERT INTO items VALUES (1, 'west'), (2, 'west')");
        await mesh.StartAllWorkersAsync();
        await mesh.WaitForCatchUpAsync();
        var dir = PgmmCli.ConfigDir(mesh);

        var (code, text) = await PgmmCli.RunAsync(dir, "conflicts", "--type", "insert_exists", "--on", "east");
        Assert.Equal(0, code);
        Assert.Contains("2 conflict(s).", text);
        Assert.Contains("dead_letter", text);

        var ids = await mesh.RowsAsync("east", "SELECT id FROM pgmm.dead_letter ORDER BY id");
        Assert.Equal(2, ids.Count);
        (code, text) = await PgmmCli.RunAsync(dir, "dead-letter", "show", "--on", "east", "--id", ids[0]);
        Assert.Equal(0, code);
        Assert.Contains("\"new_row\": {", text);
        Assert.Contains("\"name\": \"west\"", text);

        // Retry applies the parked remote row even though the conflict remains: a person decided.
        (code, text) = await PgmmCli.RunAsync(dir, "dead-letter", "retry", "--on", "east", "--id", ids[0], "--wait");
        Assert.True(code == 0, text);
        Assert.Equal(["1 | west", "2 | east"], await mesh.RowsAsync("east", "SELECT id, name FROM items ORDER BY id"));

        (code, text) = await PgmmCli.RunAsync(dir, "dead-letter", "discard", "--on", "east", "--id", ids[1]);
        Assert.Equal(0, code);
        Assert.Contains("Discarded 1", text);
        Assert.Equal(0L, await mesh.ScalarAsync<long>("east", "SELECT count(*) FROM pgmm.dead_letter"));

        (code, text) = await PgmmCli.RunAsync(dir, "dead-letter", "retry");
        Assert.Equal(2, code);
        Assert.Contains("needs --id N", text);
    }

    [Fact]
    public async Task A_parked_change_failing_again_on_retry_is_noted_without_failing_its_link()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output, "CREATE TABLE public.t (id int PRIMARY KEY, v text);", nodes: 2,
            configure: o => o.Conflicts.RetryInterval = TimeSpan.FromMilliseconds(200));
        // West's column takes integers only: east's text is refused there (22P02) on every try.
        await mesh.ExecAsync("west", "ALTER TABLE t ALTER COLUMN v TYPE int USING v::int");
        await mesh.StartAllWorkersAsync();
        await mesh.ExecAsync("east", "INSERT INTO t VALUES (1, 'abc')");

        // Each failed retry is noted on the parked change. (The retry's transaction was left aborted, so the note
        // failed with 25P02: attempts stayed 0 and the link reconnected at every retry.)
        await Mesh.WaitUntilAsync(async () => await mesh.ScalarAsync<long>("west", "SELECT coalesce(max(attempts), 0)::bigint FROM pgmm.dead_letter") >= 3,
            "the parked change to be retried three times");
        Assert.Contains("invalid input syntax for type integer", await mesh.ScalarAsync<string>("west", "SELECT last_error FROM pgmm.dead_letter"));
        var link = mesh.LinkStatuses("east").Single(l => l.Target == "west");
        // One for replaying the refused transaction change by change; none for the retries of the parked change.
        Assert.True(link.Retries < 3, $"the link east -> west restarted {link.Retries} times; last error: {link.LastError}");
    }

    [Fact]
    public async Task A_parked_delta_change_retried_by_hand_adds_its_delta_instead_of_writing_its_value()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output, """
            CREATE TABLE public.counters (id int PRIMARY KEY, total bigint NOT NULL);
            ALTER TABLE public.counters REPLICA IDENTITY FULL;
            INSERT INTO public.counters VALUES (1, 90);
            """, nodes: 2, configure: o =>
        {
            o.Conflicts.Tables["public.counters"] = new PgMultiMaster.Configuration.TableConflictRule { Columns = { ["total"] = "Delta" } };
            o.Conflicts.RetryInterval = TimeSpan.FromMilliseconds(500);
        });
        await mesh.ExecAsync("west", "ALTER TABLE counters ADD CONSTRAINT small CHECK (total < 100) NOT VALID");
        await mesh.StartAllWorkersAsync();
        await mesh.ExecAsync("east", "UPDATE counters SET total = total + 60");   // 150: west refuses it and parks it
        await Mesh.WaitUntilAsync(async () => await mesh.ScalarAsync<long>("west", "SELECT count(*) FROM pgmm.dead_letter") == 1, "the increment to be parked on west");
        await mesh.ExecAsync("west", "UPDATE counters SET total = total + 5");    // 95 on west, 155 on east
        await mesh.WaitForCatchUpAsync();
        // Only the retry a person asks for (automatic ones use the table's rules, Delta, anyway).
        await mesh.ExecAsync("west", "UPDATE pgmm.dead_letter SET retryable = false; ALTER TABLE counters DROP CONSTRAINT small");

        var id = (await mesh.RowsAsync("west", "SELECT id FROM pgmm.dead_letter")).Single();
        var (code, text) = await PgmmCli.RunAsync(PgmmCli.ConfigDir(mesh), "dead-letter", "retry", "--on", "west", "--id", id, "--wait");
        Assert.True(code == 0, text);
        await mesh.AssertConvergedAsync();
        // 95 + (150 - 90): written as sent, west would hold 150 and east 155.
        Assert.Equal(["155"], await mesh.RowsAsync("west", "SELECT total FROM counters"));
    }

    [Fact]
    public async Task A_parked_change_that_cannot_be_read_back_is_set_aside_and_the_link_goes_on()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output, "CREATE TABLE public.t (id int PRIMARY KEY, v text);", nodes: 2,
            configure: o => o.Conflicts.RetryInterval = TimeSpan.FromMilliseconds(200));
        await mesh.ExecAsync("west", "ALTER TABLE t ADD CONSTRAINT short CHECK (length(v) < 3) NOT VALID");
        await mesh.StartAllWorkersAsync();
        await mesh.ExecAsync("east", "INSERT INTO t VALUES (1, 'long')");
        await Mesh.WaitUntilAsync(async () => await mesh.ScalarAsync<long>("west", "SELECT count(*) FROM pgmm.dead_letter") == 1, "the change to be parked");
        // Edited by hand into something no version of pgmm wrote.
        await mesh.ExecAsync("west", "UPDATE pgmm.dead_letter SET columns = '{\"not\": \"a list\"}'");

        await Mesh.WaitUntilAsync(async () => await mesh.ScalarAsync<bool>("west", "SELECT NOT retryable FROM pgmm.dead_letter"), "the row to be set aside");
        Assert.StartsWith("cannot be read back, not retried: ", await mesh.ScalarAsync<string>("west", "SELECT last_error FROM pgmm.dead_letter"));
        await mesh.ExecAsync("east", "INSERT INTO t VALUES (2, 'ok')");
        await mesh.WaitForCatchUpAsync();
        Assert.Equal(["2"], await mesh.RowsAsync("west", "SELECT id FROM t"));
        Assert.Equal("streaming", mesh.LinkStatuses("east").Single(l => l.Target == "west").StateName);
    }
}
