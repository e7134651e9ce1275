using PgMultiMaster.Configuration;
using PgMultiMaster.IntegrationTests.Harness;
using Xunit.Abstractions;

namespace PgMultiMaster.IntegrationTests;

/// <summary>
/// Each test writes conflicting changes on two nodes while their workers are not running (so the changes are
/// concurrent), then starts the workers and checks the rows on every node and the conflict-log rows.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class ConflictTests(ServersFixture servers, ITestOutputHelper output)
{
    private const string Schema = """
        CREATE TABLE public.items (id int PRIMARY KEY, name text, qty int, email text UNIQUE);
        CREATE TABLE public.counters (id int PRIMARY KEY, hits bigint NOT NULL, label text);
        ALTER TABLE public.counters REPLICA IDENTITY FULL;
        """;

    private static async Task<List<string>> ConflictLog(Mesh mesh, string node) =>
        await mesh.RowsAsync(node, "SELECT conflict_type, table_name, resolution, remote_origin FROM pgmm.conflict_log ORDER BY id");

    /// <summary>Writes a starting row set everywhere, then stops the workers so what follows is concurrent.</summary>
    private static async Task ReplicateThenStopWorkers(Mesh mesh, string sql)
    {
        await mesh.ExecAsync("east", sql);
        await mesh.StartAllWorkersAsync();
        await mesh.AssertConvergedAsync();
        foreach (var node in mesh.NodeNames) await mesh.StopWorkerAsync(node);
    }

    private async Task<Mesh> TwoNodes(Action<PgMultiMasterOptions>? configure = null, string schema = Schema)
    {
        var mesh = await Mesh.CreateAsync(servers, output, schema, nodes: 2, configure: configure);
        return mesh;
    }

    /// <summary>East's ten rows (written later) are on both nodes; key 5, written first on west, was a conflict on each.</summary>
    private static async Task AssertEastsTenRowsWonKeyFive(Mesh mesh)
    {
        await mesh.AssertConvergedAsync();
        var expected = Enumerable.Range(1, 10).Select(i => $"{i} | from east | {i}").ToList();
        foreach (var node in mesh.NodeNames)
            Assert.Equal(expected, await mesh.RowsAsync(node, "SELECT id, name, qty FROM items ORDER BY id"));
        Assert.Equal(["insert_exists | public.items | apply_remote | east"], await ConflictLog(mesh, "west"));
        Assert.Equal(["insert_exists | public.items | keep_local | west"], await ConflictLog(mesh, "east"));
    }

    [Fact]
    public async Task Concurrent_inserts_of_one_key_converge_to_the_last_writer_and_are_logged_on_both_nodes()
    {
        await using var mesh = await TwoNodes();
        await mesh.ExecAsync("east", "INSERT INTO items VALUES (1, 'from east', 1, NULL)");
        await mesh.ExecAsync("west", "INSERT INTO items VALUES (1, 'from west', 2, NULL)"); // later: wins
        await mesh.StartAllWorkersAsync();
        await mesh.AssertConvergedAsync();

        foreach (var node in mesh.NodeNames)
            Assert.Equal(["1 | from west | 2"], await mesh.RowsAsync(node, "SELECT id, name, qty FROM items"));
        Assert.Equal(["insert_exists | public.items | apply_remote | west"], await ConflictLog(mesh, "east"));
        Assert.Equal(["insert_exists | public.items | keep_local | east"], await ConflictLog(mesh, "west"));
        var logged = await mesh.RowsAsync("west", "SELECT local_row->>'name', remote_row->>'name', kept_row->>'name', local_origin, rule FROM pgmm.conflict_log");
        Assert.Equal(["from west | from east | from west | west | default: LastWriterWins"], logged);
    }

    [Fact]
    public async Task A_conflicting_key_inside_a_multi_row_insert_is_resolved_and_the_rows_around_it_are_applied()
    {
        await using var mesh = await TwoNodes();
        await mesh.ExecAsync("west", "INSERT INTO items VALUES (5, 'from west', 0, NULL)");
        // Later, one statement: the ten rows travel as one set-based insert, with key 5 taken on west.
        await mesh.ExecAsync("east", "INSERT INTO items SELECT g, 'from east', g, NULL FROM generate_series(1, 10) g");
        await mesh.StartAllWorkersAsync();
        await AssertEastsTenRowsWonKeyFive(mesh);
    }

    [Fact]
    public async Task A_conflicting_key_in_a_transaction_larger_than_a_batch_is_resolved_once_the_transaction_is_sent_again_guarded()
    {
        // Batches of 4: the ten rows go out mid-transaction as unguarded insert runs, and the one holding key 5 fails.
        await using var mesh = await TwoNodes(o => o.Apply.BatchSize = 4);
        await mesh.ExecAsync("west", "INSERT INTO items VALUES (5, 'from west', 0, NULL)");
        await mesh.ExecAsync("east", "INSERT INTO items SELECT g, 'from east', g, NULL FROM generate_series(1, 10) g");
        await mesh.StartAllWorkersAsync();
        await AssertEastsTenRowsWonKeyFive(mesh);
    }

    [Fact]
    public async Task A_key_deleted_later_elsewhere_inside_a_multi_row_insert_stays_deleted_and_the_other_rows_apply()
    {
        await using var mesh = await TwoNodes();
        await ReplicateThenStopWorkers(mesh, "INSERT INTO items VALUES (5, 'old', 0, NULL)");

        // East deletes row 5 and inserts ten rows in one statement, key 5 among them; west deletes row 5 later.
        await mesh.ExecAsync("east", "DELETE FROM items WHERE id = 5");
        await mesh.ExecAsync("east", "INSERT INTO items SELECT g, 'from east', g, NULL FROM generate_series(1, 10) g");
        await mesh.ExecAsync("west", "DELETE FROM items WHERE id = 5");
        await mesh.StartAllWorkersAsync();
        await mesh.AssertConvergedAsync();

        // On west the run meets west's newer tombstone for key 5: that row loses, the nine others apply.
        var expected = Enumerable.Range(1, 10).Where(i => i != 5).Select(i => $"{i} | from east").ToList();
        foreach (var node in mesh.NodeNames)
            Assert.Equal(expected, await mesh.RowsAsync(node, "SELECT id, name FROM items ORDER BY id"));
        Assert.Contains("insert_deleted | public.items | keep_local | east", await ConflictLog(mesh, "west"));
    }

    [Fact]
    public async Task A_unique_value_taken_inside_a_multi_row_insert_is_parked_and_the_other_rows_apply()
    {
        await using var mesh = await TwoNodes();
        await mesh.ExecAsync("west", "INSERT INTO items VALUES (100, 'w', 0, 'e5@example.com')");
        await mesh.ExecAsync("east", "INSERT INTO items SELECT g, 'from east', g, 'e' || g || '@example.com' FROM generate_series(1, 10) g");
        await mesh.StartAllWorkersAsync();
        await mesh.WaitForCatchUpAsync();

        // Row 5's email is taken on west and row 100's on east: each node parks the other's row.
        Assert.Equal(Enumerable.Range(1, 10).Where(i => i != 5).Select(i => $"{i}").Append("100").ToList(),
            await mesh.RowsAsync("west", "SELECT id FROM items ORDER BY id"));
        Assert.Equal(Enumerable.Range(1, 10).Select(i => $"{i}").ToList(), await mesh.RowsAsync("east", "SELECT id FROM items ORDER BY id"));
        foreach (var node in mesh.NodeNames)
            Assert.Equal(["unique_violation | insert"], await mesh.RowsAsync(node, "SELECT conflict_type, operation FROM pgmm.dead_letter"));
        Assert.Equal(["5"], await mesh.RowsAsync("west", "SELECT new_row->>'id' FROM pgmm.dead_letter"));
    }

    [Fact]
    public async Task Concurrent_updates_converge_to_the_last_writer()
    {
        await using var mesh = await TwoNodes();
        await ReplicateThenStopWorkers(mesh, "INSERT INTO items VALUES (1, 'base', 0, NULL)");

        await mesh.ExecAsync("west", "UPDATE items SET name = 'west first', qty = 1 WHERE id = 1");
        await mesh.ExecAsync("east", "UPDATE items SET name = 'east later', qty = 2 WHERE id = 1");
        await mesh.StartAllWorkersAsync();
        await mesh.AssertConvergedAsync();

        foreach (var node in mesh.NodeNames)
            Assert.Equal(["east later | 2"], await mesh.RowsAsync(node, "SELECT name, qty FROM items"));
        // The older change reached the node holding the newer one: there it lost, and that is logged.
        Assert.Equal(["update_origin_differs | public.items | keep_local | west"], await ConflictLog(mesh, "east"));
    }

    [Fact]
    public async Task An_update_racing_a_delete_converges_whichever_is_later()
    {
        await using var mesh = await TwoNodes();
        await ReplicateThenStopWorkers(mesh, "INSERT INTO items VALUES (1, 'a', 0, NULL), (2, 'b', 0, NULL)");

        // Row 1: delete first, update later → the update wins and the row comes back with its new values.
        await mesh.ExecAsync("east", "DELETE FROM items WHERE id = 1");
        await mesh.ExecAsync("west", "UPDATE items SET name = 'updated after delete' WHERE id = 1");
        // Row 2: update first, delete later → the delete wins.
        await mesh.ExecAsync("west", "UPDATE items SET name = 'updated before delete' WHERE id = 2");
        await mesh.ExecAsync("east", "DELETE FROM items WHERE id = 2");
        await mesh.StartAllWorkersAsync();
        await mesh.AssertConvergedAsync();

        foreach (var node in mesh.NodeNames)
            Assert.Equal(["1 | updated after delete"], await mesh.RowsAsync(node, "SELECT id, name FROM items ORDER BY id"));
        Assert.Contains("update_missing | public.items | insert_remote | west", await ConflictLog(mesh, "east"));
        Assert.Contains("update_missing | public.items | keep_local | west", await ConflictLog(mesh, "east"));
        // On west, the later delete of row 2 met an older local version: not a conflict, it simply applies.
        Assert.Equal(["delete_origin_differs | public.items | keep_local | east"], await ConflictLog(mesh, "west"));
    }

    [Fact]
    public async Task A_delete_racing_a_delete_and_reinsert_converges_and_logs_delete_missing_and_insert_deleted()
    {
        await using var mesh = await TwoNodes();
        await ReplicateThenStopWorkers(mesh, "INSERT INTO items VALUES (1, 'old', 0, NULL)");

        await mesh.ExecAsync("west", "DELETE FROM items WHERE id = 1");
        await mesh.ExecAsync("east", "DELETE FROM items WHERE id = 1");
        await mesh.ExecAsync("east", "INSERT INTO items VALUES (1, 'reinserted', 5, NULL)");
        await mesh.StartAllWorkersAsync();
        await mesh.AssertConvergedAsync();

        foreach (var node in mesh.NodeNames)
            Assert.Equal(["1 | reinserted"], await mesh.RowsAsync(node, "SELECT id, name FROM items"));
        var west = await ConflictLog(mesh, "west");
        Assert.Contains("delete_missing | public.items | skip | east", west);
        Assert.Contains("insert_deleted | public.items | apply_remote | east", west);
    }

    [Fact]
    public async Task A_unique_violation_is_parked_and_the_stream_goes_on()
    {
        await using var mesh = await TwoNodes();
        await mesh.ExecAsync("east", "INSERT INTO items VALUES (1, 'e', 0, 'same@example.com')");
        await mesh.ExecAsync("west", "INSERT INTO items VALUES (2, 'w', 0, 'same@example.com')");
        await mesh.StartAllWorkersAsync();
        await mesh.ExecAsync("east", "INSERT INTO items VALUES (3, 'after', 0, NULL)");
        await mesh.WaitForCatchUpAsync();

        foreach (var node in mesh.NodeNames)
        {
            Assert.Equal(1L, await mesh.ScalarAsync<long>(node, "SELECT count(*) FROM items WHERE id = 3"));
            Assert.Equal(["unique_violation | insert"], await mesh.RowsAsync(node, "SELECT conflict_type, operation FROM pgmm.dead_letter"));
            Assert.Equal(["unique_violation | public.items | dead_letter"],
                await mesh.RowsAsync(node, "SELECT conflict_type, table_name, resolution FROM pgmm.conflict_log"));
        }
    }

    [Fact]
    public async Task Delta_counters_add_concurrent_increments_from_every_node()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output, Schema, nodes: 3, configure: o =>
            o.Conflicts.Tables["public.counters"] = new TableConflictRule { Columns = { ["hits"] = "Delta" } });
        await mesh.ExecAsync("east", "INSERT INTO counters VALUES (1, 100, 'x')");
        await mesh.StartAllWorkersAsync();
        await mesh.AssertConvergedAsync();
        foreach (var n in mesh.NodeNames) await mesh.StopWorkerAsync(n);

        await mesh.ExecAsync("east", "UPDATE counters SET hits = hits + 5 WHERE id = 1");
        await mesh.ExecAsync("west", "UPDATE counters SET hits = hits + 7 WHERE id = 1");
        await mesh.ExecAsync("west", "UPDATE counters SET hits = hits + 1 WHERE id = 1");
        await mesh.ExecAsync("north", "UPDATE counters SET hits = hits - 2 WHERE id = 1");
        await mesh.StartAllWorkersAsync();
        await mesh.AssertConvergedAsync();

        foreach (var node in mesh.NodeNames)
            Assert.Equal(111L, await mesh.ScalarAsync<long>(node, "SELECT hits FROM counters WHERE id = 1"));
        Assert.Contains(await mesh.RowsAsync("east", "SELECT resolution, rule FROM pgmm.conflict_log"), r => r.StartsWith("merge | ", StringComparison.Ordinal) && r.Contains("hits: Delta", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Column_merge_keeps_each_nodes_change_to_different_columns()
    {
        await using var mesh = await TwoNodes(o => o.Conflicts.Tables["public.counters"] = new TableConflictRule { Strategy = "ColumnMerge" });
        await ReplicateThenStopWorkers(mesh, "INSERT INTO counters VALUES (1, 1, 'base')");

        await mesh.ExecAsync("east", "UPDATE counters SET hits = 50 WHERE id = 1");
        await mesh.ExecAsync("west", "UPDATE counters SET label = 'renamed on west' WHERE id = 1");
        await mesh.StartAllWorkersAsync();
        await mesh.AssertConvergedAsync();
        foreach (var node in mesh.NodeNames)
            Assert.Equal(["50 | renamed on west"], await mesh.RowsAsync(node, "SELECT hits, label FROM counters"));
    }

    [Fact]
    public async Task Node_priority_lets_the_listed_node_win_even_when_it_wrote_first()
    {
        await using var mesh = await TwoNodes(o => o.Conflicts.Tables["public.counters"] =
            new TableConflictRule { Strategy = "NodePriority", Priority = ["west", "east"] });
        await ReplicateThenStopWorkers(mesh, "INSERT INTO counters VALUES (1, 1, 'base')");

        await mesh.ExecAsync("west", "UPDATE counters SET label = 'west, earlier' WHERE id = 1");
        await mesh.ExecAsync("east", "UPDATE counters SET label = 'east, later' WHERE id = 1");
        await mesh.StartAllWorkersAsync();
        await mesh.AssertConvergedAsync();
        foreach (var node in mesh.NodeNames)
            Assert.Equal(["west, earlier"], await mesh.RowsAsync(node, "SELECT label FROM counters"));
    }

    [Fact]
    public async Task A_user_function_decides_with_both_rows_and_the_conflict_type()
    {
        const string function = """
            CREATE FUNCTION public.keep_longer_name(local jsonb, remote jsonb, conflict_type text) RETURNS jsonb
            LANGUAGE sql AS $$
              SELECT CASE WHEN length(local->>'name') >= length(remote->>'name')
                          THEN local || jsonb_build_object('qty', (local->>'qty')::int + (remote->>'qty')::int)
                          ELSE remote || jsonb_build_object('qty', (local->>'qty')::int + (remote->>'qty')::int) END
            $$;
            """;
        await using var mesh = await TwoNodes(o => o.Conflicts.Tables["public.items"] =
            new TableConflictRule { Strategy = "Function", Function = "public.keep_longer_name" }, Schema + function);
        await mesh.ExecAsync("east", "INSERT INTO items VALUES (1, 'a much longer name', 3, NULL)");
        await mesh.ExecAsync("west", "INSERT INTO items VALUES (1, 'short', 4, NULL)");
        await mesh.StartAllWorkersAsync();
        await mesh.AssertConvergedAsync();
        foreach (var node in mesh.NodeNames)
            Assert.Equal(["a much longer name | 7"], await mesh.RowsAsync(node, "SELECT name, qty FROM items"));
        Assert.Equal(["insert_exists | public.items | function: row | west"], await ConflictLog(mesh, "east"));
    }

    [Fact]
    public async Task A_dead_letter_rule_parks_the_conflict_with_everything_needed_to_apply_it()
    {
        await using var mesh = await TwoNodes(o => o.Conflicts.Default = new ConflictRule { Strategy = "DeadLetter" });
        await mesh.ExecAsync("east", "INSERT INTO items VALUES (1, 'east', 1, NULL)");
        await mesh.ExecAsync("west", "INSERT INTO items VALUES (1, 'west', 2, NULL)");
        await mesh.StartAllWorkersAsync();
        await mesh.WaitForCatchUpAsync();

        Assert.Equal(["1 | east"], await mesh.RowsAsync("east", "SELECT id, name FROM items"));
        Assert.Equal(["1 | west"], await mesh.RowsAsync("west", "SELECT id, name FROM items"));
        Assert.Equal(["west | public.items | insert | west | insert_exists"],
            await mesh.RowsAsync("east", "SELECT source_node, table_name, operation, new_row->>'name', conflict_type FROM pgmm.dead_letter"));
    }

    [Fact]
    public async Task Tombstones_are_removed_once_every_peer_is_past_them_and_kept_while_one_is_not()
    {
        await using var mesh = await TwoNodes(o =>
        {
            o.Conflicts.HousekeepingInterval = TimeSpan.FromMilliseconds(100);
            o.Conflicts.MaxClockSkew = TimeSpan.Zero;
        });
        await mesh.ExecAsync("east", "INSERT INTO items SELECT g, 'x', 0, NULL FROM generate_series(1, 50) g");
        await mesh.StartAllWorkersAsync();
        await mesh.AssertConvergedAsync();
        // West's worker is down and west has a change of its own, older than the deletes, not yet sent to east:
        // east must remember the deletes until west is past them.
        await mesh.StopWorkerAsync("west");
        await mesh.ExecAsync("west", "UPDATE items SET name = 'changed on west' WHERE id = 45");
        await mesh.ExecAsync("east", "DELETE FROM items WHERE id <= 20");
        await Mesh.WaitUntilAsync(async () => await mesh.ScalarAsync<long>("west", "SELECT count(*) FROM items") == 30, "the deletes on west");

        // Two housekeeping rounds later they are still there.
        const string lastRound = "SELECT last_housekeeping FROM pgmm.node";
        for (var round = 0; round < 2; round++)
        {
            var before = await mesh.ScalarAsync<DateTime>("east", lastRound);
            await Mesh.WaitUntilAsync(async () => await mesh.ScalarAsync<DateTime>("east", lastRound) > before, "a housekeeping round on east");
        }
        Assert.Equal(20L, await mesh.ScalarAsync<long>("east", "SELECT count(*) FROM pgmm.tombstone"));

        await mesh.StartWorkerAsync("west");
        foreach (var node in mesh.NodeNames)
            await Mesh.WaitUntilAsync(async () => await mesh.ScalarAsync<long>(node, "SELECT count(*) FROM pgmm.tombstone") == 0, $"{node}'s tombstones to go");
        await mesh.AssertConvergedAsync();
    }
}
