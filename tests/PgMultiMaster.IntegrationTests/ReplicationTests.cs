using Npgsql;
using PgMultiMaster.IntegrationTests.Harness;
using Xunit.Abstractions;

namespace PgMultiMaster.IntegrationTests;

[Collection(ServersCollection.Name)]
public sealed class ReplicationTests(ServersFixture servers, ITestOutputHelper output)
{
    private const string Accounts = """
        CREATE TABLE public.accounts (id bigint PRIMARY KEY, owner text NOT NULL, balance numeric(14,2) NOT NULL, note text);
        CREATE TABLE public.events (node text NOT NULL, seq int NOT NULL, payload text);
        """;

    // events has no key: it replicates as an insert-only table.
    private static void EventsInsertOnly(PgMultiMaster.Configuration.PgMultiMasterOptions o) => o.InsertOnlyTables = ["public.events"];

    [Fact]
    public async Task Concurrent_writes_on_disjoint_keys_converge_on_all_three_nodes()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output, Accounts, configure: EventsInsertOnly);
        await mesh.StartAllWorkersAsync();

        // Each node inserts, updates and deletes its own key range, all at once.
        await Task.WhenAll(mesh.NodeNames.Select((node, n) => Task.Run(async () =>
        {
            await using var conn = await mesh.OpenAsync(node);
            var baseId = (n + 1) * 100_000L;
            for (var i = 0; i < 300; i++)
            {
                await using var tx = await conn.BeginTransactionAsync();
                await Exec(conn, "INSERT INTO accounts VALUES ($1, $2, $3, NULL)", baseId + i, node, 10m + i);
                await Exec(conn, "INSERT INTO events VALUES ($1, $2, 'opened')", node, i);
                if (i % 3 == 0) await Exec(conn, "UPDATE accounts SET balance = balance * 2, note = 'doubled' WHERE id = $1", baseId + i / 2);
                if (i % 7 == 0) await Exec(conn, "DELETE FROM accounts WHERE id = $1", baseId + i / 3);
                await tx.CommitAsync();
            }
        })));

        var diff = await mesh.AssertConvergedAsync();
        Assert.All(diff.Tables.Single(t => t.Table == "public.events").PerNode, c => Assert.Equal(900, c!.Rows));

        // The same operations replayed in memory give the rows every node must hold.
        var expected = new SortedDictionary<long, (decimal Balance, string? Note)>();
        for (var n = 0; n < 3; n++)
        {
            var baseId = (n + 1) * 100_000L;
            for (var i = 0; i < 300; i++)
            {
                expected[baseId + i] = (10m + i, null);
                if (i % 3 == 0 && expected.TryGetValue(baseId + i / 2, out var row)) expected[baseId + i / 2] = (row.Balance * 2, "doubled");
                if (i % 7 == 0) expected.Remove(baseId + i / 3);
            }
        }
        var want = expected.Select(e => $"{e.Key} | {e.Value.Balance:0.00} | {e.Value.Note ?? "NULL"}").ToList();
        foreach (var node in mesh.NodeNames)
            Assert.Equal(want, await mesh.RowsAsync(node, "SELECT id, balance, note FROM accounts ORDER BY id"));
    }

    [Fact]
    public async Task A_change_is_applied_once_per_peer_and_never_returns_to_its_origin()
    {
        // An insert-only table has no key: an echoed or repeated insert would show up as a duplicate row.
        await using var mesh = await Mesh.CreateAsync(servers, output, Accounts, configure: EventsInsertOnly);
        await mesh.StartAllWorkersAsync();

        for (var i = 0; i < 20; i++)
            await mesh.ExecAsync(mesh.NodeNames[i % 3], "INSERT INTO events VALUES ($1, $2, 'x')", mesh.NodeNames[i % 3], i);
        await mesh.ExecAsync("east", "INSERT INTO accounts VALUES (1, 'east', 0, NULL)");
        await mesh.WaitForCatchUpAsync();
        await mesh.ExecAsync("west", "UPDATE accounts SET balance = balance + 5 WHERE id = 1", Array.Empty<object>());

        await mesh.AssertConvergedAsync();
        // Give any echo a chance to come back: a second full round of catch-up.
        await mesh.ExecAsync("north", "INSERT INTO events VALUES ('north', 99, 'marker')");
        await mesh.AssertConvergedAsync();

        foreach (var node in mesh.NodeNames)
        {
            Assert.Equal(21, await mesh.ScalarAsync<long>(node, "SELECT count(*) FROM events"));
            Assert.Equal(5m, await mesh.ScalarAsync<decimal>(node, "SELECT balance FROM accounts WHERE id = 1"));
        }
        Assert.All(mesh.NodeNames, node => Assert.Contains(mesh.LinkStatuses(node), s => s.TransactionsSkippedAsEcho > 0));
    }

    [Fact]
    public async Task Unchanged_toast_values_survive_updates_of_other_columns()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output,
            "CREATE TABLE public.docs (id int PRIMARY KEY, title text, body text, blob bytea);", nodes: 2);
        await mesh.StartAllWorkersAsync();
        // Random text does not compress, so it is stored out of line (TOAST) and not resent when unchanged.
        await mesh.ExecAsync("east",
            "INSERT INTO docs SELECT 1, 'v1', string_agg(md5(random()::text), ''), decode(string_agg(md5(random()::text), ''), 'hex') FROM generate_series(1, 2000)");
        await mesh.AssertConvergedAsync();

        await mesh.ExecAsync("east", "UPDATE docs SET title = 'v2' WHERE id = 1");
        await mesh.AssertConvergedAsync();

        var west = await mesh.RowsAsync("west", "SELECT title, length(body), md5(body), length(blob) FROM docs");
        Assert.Equal(await mesh.RowsAsync("east", "SELECT title, length(body), md5(body), length(blob) FROM docs"), west);
        Assert.StartsWith("v2 | 64000 |", west.Single());
    }

    [Fact]
    public async Task Primary_key_changes_and_composite_keys_replicate()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output, """
            CREATE TABLE public.lines (order_id int, line int, sku text, PRIMARY KEY (order_id, line));
            """, nodes: 2);
        await mesh.StartAllWorkersAsync();
        await mesh.ExecAsync("east", "INSERT INTO lines SELECT o, l, 'sku' || o || '-' || l FROM generate_series(1, 5) o, generate_series(1, 3) l");
        await mesh.ExecAsync("east", "UPDATE lines SET line = line + 10 WHERE order_id = 2");
        await mesh.ExecAsync("east", "UPDATE lines SET order_id = 50, sku = 'moved' WHERE order_id = 3 AND line = 1");
        await mesh.ExecAsync("east", "DELETE FROM lines WHERE order_id = 4 AND line = 2");
        await mesh.AssertConvergedAsync();

        Assert.Equal(
            ["2 | 11", "2 | 12", "2 | 13"],
            await mesh.RowsAsync("west", "SELECT order_id, line FROM lines WHERE order_id = 2 ORDER BY line"));
        Assert.Equal(["moved"], await mesh.RowsAsync("west", "SELECT sku FROM lines WHERE order_id = 50 AND line = 1"));
        Assert.Equal(14L, await mesh.ScalarAsync<long>("west", "SELECT count(*) FROM lines"));
    }

    [Fact]
    public async Task Identifiers_that_need_quoting_replicate()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output, """
            CREATE SCHEMA "Sales Dept";
            CREATE TABLE "Sales Dept"."Order Items" ("Id" int PRIMARY KEY, "Mixed""Quote" text, "select" int, "día" text);
            """, nodes: 2, configure: o => o.Tables = ["\"Sales Dept\".*"]);
        await mesh.StartAllWorkersAsync();
        await mesh.ExecAsync("east", """INSERT INTO "Sales Dept"."Order Items" VALUES (1, 'a"b', 7, 'lunes'), (2, NULL, 8, 'martes')""");
        await mesh.ExecAsync("east", """UPDATE "Sales Dept"."Order Items" SET "Mixed""Quote" = 'it''s', "select" = 9 WHERE "Id" = 2""");
        await mesh.ExecAsync("east", """DELETE FROM "Sales Dept"."Order Items" WHERE "Id" = 1""");
        await mesh.AssertConvergedAsync();
        Assert.Equal(["2 | it's | 9 | martes"], await mesh.RowsAsync("west", """SELECT * FROM "Sales Dept"."Order Items" """));
    }

    [Fact]
    public async Task Truncate_replicates_to_every_peer()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output, Accounts, configure: EventsInsertOnly);
        await mesh.StartAllWorkersAsync();
        await mesh.ExecAsync("east", "INSERT INTO accounts SELECT g, 'x', g, NULL FROM generate_series(1, 100) g");
        await mesh.ExecAsync("west", "INSERT INTO events SELECT 'west', g FROM generate_series(1, 50) g");
        await mesh.AssertConvergedAsync();

        await mesh.ExecAsync("north", "TRUNCATE accounts, events");
        await mesh.ExecAsync("north", "INSERT INTO accounts VALUES (7, 'after', 1, NULL)");
        await mesh.AssertConvergedAsync();
        foreach (var node in mesh.NodeNames)
        {
            Assert.Equal(["7"], await mesh.RowsAsync(node, "SELECT id FROM accounts"));
            Assert.Equal(0L, await mesh.ScalarAsync<long>(node, "SELECT count(*) FROM events"));
        }
    }

    [Fact]
    public async Task A_large_transaction_replicates_as_one_transaction()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output, Accounts, nodes: 2, configure: EventsInsertOnly);
        await mesh.StartAllWorkersAsync();
        await mesh.ExecAsync("east", "INSERT INTO accounts SELECT g, 'bulk', g % 1000, repeat('n', 50) FROM generate_series(1, 100000) g");
        await mesh.AssertConvergedAsync();
        Assert.Equal(100_000L, await mesh.ScalarAsync<long>("west", "SELECT count(*) FROM accounts"));
        // One source transaction became one target transaction: all rows share one xmin.
        Assert.Equal(1L, await mesh.ScalarAsync<long>("west", "SELECT count(DISTINCT xmin::text) FROM accounts"));
    }

    [Fact]
    public async Task Replicated_rows_carry_the_source_commit_timestamp_and_origin()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output, Accounts, nodes: 2, configure: EventsInsertOnly);
        await mesh.StartAllWorkersAsync();
        await mesh.ExecAsync("east", "INSERT INTO accounts VALUES (1, 'east', 1, NULL)");
        await mesh.AssertConvergedAsync();
        const string provenance = "SELECT (pg_xact_commit_timestamp_origin(xmin)).timestamp FROM accounts WHERE id = 1";
        Assert.Equal(await mesh.ScalarAsync<DateTime>("east", provenance), await mesh.ScalarAsync<DateTime>("west", provenance));
        Assert.Equal(mesh.Topology.OriginName("east"), await mesh.ScalarAsync<string>("west",
            "SELECT roname::text FROM pg_replication_origin WHERE roident = (SELECT (pg_xact_commit_timestamp_origin(xmin)).roident FROM accounts WHERE id = 1)"));
    }

    [Fact]
    public async Task An_idle_link_confirms_its_slot_while_only_unreplicated_tables_change()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output, Accounts + "CREATE SCHEMA scratch; CREATE TABLE scratch.t (x int);", nodes: 2, configure: EventsInsertOnly);
        await mesh.StartAllWorkersAsync();
        await mesh.ExecAsync("east", "INSERT INTO scratch.t SELECT generate_series(1, 10000)");
        var written = await mesh.ScalarAsync<NpgsqlTypes.NpgsqlLogSequenceNumber>("east", "SELECT pg_current_wal_lsn()");
        var slot = mesh.Topology.SlotName("east", "west");
        await Mesh.WaitUntilAsync(async () =>
                await mesh.ScalarAsync<NpgsqlTypes.NpgsqlLogSequenceNumber>("east",
                    "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = $1", slot) >= written,
            $"slot {slot} to confirm past {written}");
        Assert.Equal(0L, await mesh.ScalarAsync<long>("west", "SELECT count(*) FROM accounts"));
    }

    private static async Task Exec(NpgsqlConnection conn, string sql, params object[] args)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        foreach (var a in args) cmd.Parameters.Add(new NpgsqlParameter { Value = a });
        await cmd.ExecuteNonQueryAsync();
    }
}
