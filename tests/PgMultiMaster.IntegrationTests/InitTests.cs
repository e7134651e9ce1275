using Npgsql;
using PgMultiMaster.Configuration;
using PgMultiMaster.IntegrationTests.Harness;
using PgMultiMaster.LocalServers;
using PgMultiMaster.Setup;
using Xunit.Abstractions;

namespace PgMultiMaster.IntegrationTests;

[Collection(ServersCollection.Name)]
public sealed class InitTests(ServersFixture servers, ITestOutputHelper output)
{
    [Fact]
    public async Task Init_refuses_servers_without_logical_wal_commit_timestamps_slots_or_senders_and_changes_nothing()
    {
        if (servers.Backend != "local") return; // needs a server started with deliberately wrong settings
        var root = Path.Combine(Path.GetTempPath(), $"pgmm-bad-{Environment.ProcessId}");
        await using var bad = await LocalPostgresServer.StartNewAsync("bad", root, extraSettings:
            ["wal_level=replica", "track_commit_timestamp=off", "max_replication_slots=0", "max_wal_senders=0"]);
        await using var mesh = await Mesh.CreateAsync(servers, output, "CREATE TABLE public.t (id int PRIMARY KEY);", nodes: 1, init: false);
        await using (var conn = await bad.OpenAsync())
        {
            await using var ddl = new NpgsqlCommand($"CREATE DATABASE {mesh.Database}", conn);
            await ddl.ExecuteNonQueryAsync();
        }
        await using (var conn = await bad.OpenAsync(mesh.Database))
        {
            await using var ddl = new NpgsqlCommand("CREATE TABLE public.t (id int PRIMARY KEY)", conn);
            await ddl.ExecuteNonQueryAsync();
        }
        mesh.Options.Nodes.Add(new NodeOptions { Name = "bad", ConnectionString = bad.ConnectionString(mesh.Database) });

        var e = await Assert.ThrowsAsync<PrerequisiteException>(mesh.InitAsync);
        Assert.Contains("node 'bad': wal_level is 'replica'; set wal_level = logical", e.Message);
        Assert.Contains("node 'bad': track_commit_timestamp is off", e.Message);
        Assert.Contains("node 'bad': max_replication_slots is 0 but 1 are needed", e.Message);
        Assert.Contains("node 'bad': max_wal_senders is 0 but at least 1 are needed", e.Message);
        Assert.Equal(4, e.Problems.Count);
        Assert.False(await mesh.ScalarAsync<bool>("east", "SELECT to_regnamespace('pgmm') IS NOT NULL"));
        Assert.Equal(0L, await mesh.ScalarAsync<long>("east", "SELECT count(*) FROM pg_replication_slots WHERE database = current_database()"));
    }

    [Fact]
    public async Task Init_names_missing_tables_differing_columns_and_tables_without_a_key()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output, "CREATE TABLE public.ok (id int PRIMARY KEY);", nodes: 2, init: false);
        await mesh.ExecAsync("east", """
            CREATE TABLE public.only_east (id int PRIMARY KEY);
            CREATE TABLE public.shape (id int PRIMARY KEY, amount numeric, note text);
            CREATE TABLE public.keyless (x int);
            CREATE TABLE public.history (at timestamptz, what text);
            """);
        await mesh.ExecAsync("west", """
            CREATE TABLE public.shape (id int PRIMARY KEY, amount bigint);
            CREATE TABLE public.keyless (x int);
            CREATE TABLE public.history (at timestamptz, what text);
            """);
        mesh.Options.Tables = ["public.*", "public.nothing_here"];
        mesh.Options.InsertOnlyTables = ["public.history"];

        var e = await Assert.ThrowsAsync<PrerequisiteException>(mesh.InitAsync);
        Assert.Contains("PgMultiMaster:Tables:1 'public.nothing_here' matches no table on any node.", e.Message);
        Assert.Contains("node 'west': table \"public\".\"only_east\" is missing (it exists on 'east').", e.Message);
        Assert.Contains("table \"public\".\"shape\": columns differ between node 'east' and node 'west' " +
                        "(only on 'east': amount numeric, note text; only on 'west': amount bigint).", e.Message);
        Assert.Contains("node 'east': table \"public\".\"keyless\" has neither a primary key nor a usable replica identity", e.Message);
        Assert.Contains("node 'west': table \"public\".\"keyless\" has neither a primary key nor a usable replica identity", e.Message);
        Assert.DoesNotContain("history", e.Message);
        Assert.Equal(5, e.Problems.Count);
    }

    [Fact]
    public async Task Init_refuses_two_nodes_on_one_server_and_one_database_listed_twice()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output, "CREATE TABLE public.t (id int PRIMARY KEY);", nodes: 2, init: false);
        var second = mesh.Database + "_b";
        await using (var conn = new NpgsqlConnection(servers["west"].ConnectionString("postgres")))
        {
            await conn.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {second}", conn);
            await create.ExecuteNonQueryAsync();
        }
        try
        {
            await using (var conn = new NpgsqlConnection(servers["west"].ConnectionString(second)))
            {
                await conn.OpenAsync();
                await using var ddl = new NpgsqlCommand("CREATE TABLE public.t (id int PRIMARY KEY)", conn);
                await ddl.ExecuteNonQueryAsync();
            }
            mesh.Options.Nodes.Add(new NodeOptions { Name = "westb", ConnectionString = servers["west"].ConnectionString(second) });
            mesh.Options.Nodes.Add(new NodeOptions { Name = "east2", ConnectionString = mesh.Node("east").ConnectionString });

            var e = await Assert.ThrowsAsync<PrerequisiteException>(mesh.InitAsync);
            Assert.Contains(e.Problems, p => p.StartsWith("nodes 'west' and 'westb' are databases of one server (system identifier ", StringComparison.Ordinal)
                                             && p.EndsWith("give each node a server of its own.", StringComparison.Ordinal));
            Assert.Contains(e.Problems, p => p.StartsWith("nodes 'east' and 'east2' are the same database (server ", StringComparison.Ordinal));
            Assert.Equal(0L, await mesh.ScalarAsync<long>("west", "SELECT count(*) FROM pg_replication_slots WHERE database = current_database()"));
        }
        finally
        {
            await using var conn = new NpgsqlConnection(servers["west"].ConnectionString("postgres"));
            await conn.OpenAsync();
            await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS {second} WITH (FORCE)", conn);
            await drop.ExecuteNonQueryAsync();
        }
    }

    [Fact]
    public async Task Init_refuses_a_database_that_is_not_utf8()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output, "CREATE TABLE public.t (id int PRIMARY KEY);", nodes: 1, init: false);
        var ascii = mesh.Database + "_ascii";
        await using (var conn = new NpgsqlConnection(servers["west"].ConnectionString("postgres")))
        {
            await conn.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {ascii} ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0", conn);
            await create.ExecuteNonQueryAsync();
        }
        try
        {
            await using (var conn = new NpgsqlConnection(servers["west"].ConnectionString(ascii)))
            {
                await conn.OpenAsync();
                await using var ddl = new NpgsqlCommand("CREATE TABLE public.t (id int PRIMARY KEY)", conn);
                await ddl.ExecuteNonQueryAsync();
            }
            mesh.Options.Nodes.Add(new NodeOptions { Name = "west", ConnectionString = servers["west"].ConnectionString(ascii) });

            var e = await Assert.ThrowsAsync<PrerequisiteException>(mesh.InitAsync);
            Assert.Equal([$"node 'west': database \"{ascii}\" is encoded SQL_ASCII; PgMultiMaster needs UTF8 databases (text travels between the nodes as UTF-8 and must arrive unchanged)."],
                e.Problems);
        }
        finally
        {
            await using var conn = new NpgsqlConnection(servers["west"].ConnectionString("postgres"));
            await conn.OpenAsync();
            await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS {ascii} WITH (FORCE)", conn);
            await drop.ExecuteNonQueryAsync();
        }
    }

    [Fact]
    public async Task Partitioned_tables_replicate_through_their_partitions_and_naming_the_parent_is_refused()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output, """
            CREATE TABLE public.measurements (id int, at date, v int, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
            CREATE TABLE public.measurements_2024 PARTITION OF public.measurements FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
            CREATE TABLE public.measurements_2025 PARTITION OF public.measurements FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
            """, nodes: 2, init: false);
        mesh.Options.Tables = ["public.measurements"];
        var e = await Assert.ThrowsAsync<PrerequisiteException>(mesh.InitAsync);
        Assert.Equal(["PgMultiMaster:Tables:0 'public.measurements' is a partitioned table: list its partitions (e.g. public.measurements_*) instead."], e.Problems);

        mesh.Options.Tables = ["public.*"];
        var tables = await mesh.InitAsync();
        Assert.Equal(["public.measurements_2024", "public.measurements_2025"], tables.Select(t => t.QualifiedName));
        await mesh.StartAllWorkersAsync();
        await mesh.ExecAsync("east", "INSERT INTO measurements VALUES (1, '2024-05-01', 1), (2, '2025-05-01', 2)");
        await mesh.WaitForCatchUpAsync();
        await mesh.ExecAsync("west", "UPDATE measurements SET v = v + 10");
        await mesh.AssertConvergedAsync();
        Assert.Equal(["1 | 11", "2 | 12"], await mesh.RowsAsync("east", "SELECT id, v FROM measurements ORDER BY id"));
    }

    [Fact]
    public async Task Conflict_rules_are_checked_against_every_nodes_catalog()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output, """
            CREATE TABLE public.accounts (id int PRIMARY KEY, balance numeric, owner text);
            CREATE TABLE public.full_accounts (id int PRIMARY KEY, balance numeric, owner text);
            ALTER TABLE public.full_accounts REPLICA IDENTITY FULL;
            """, nodes: 2, init: false, configure: o =>
        {
            o.Tables = ["public.accounts", "public.full_accounts"];
            o.Conflicts.Tables["public.accounts"] = new TableConflictRule { Columns = { ["balance"] = "Delta" } };
            o.Conflicts.Tables["public.full_accounts"] = new TableConflictRule
                { Columns = { ["owner"] = "Delta", ["nope"] = "ApplyRemote" }, Types = { ["insert_exists"] = "Function" }, Function = "public.missing" };
            o.Conflicts.Tables["public.ghost"] = new TableConflictRule();
        });

        var e = await Assert.ThrowsAsync<PrerequisiteException>(mesh.InitAsync);
        Assert.Contains("PgMultiMaster:Conflicts:Tables:public.accounts: Delta needs the remote old row: node 'east': ALTER TABLE \"public\".\"accounts\" REPLICA IDENTITY FULL.", e.Problems);
        Assert.Contains("PgMultiMaster:Conflicts:Tables:public.full_accounts:Columns:owner: Delta needs a numeric column; 'owner' is text on node 'east'.", e.Problems);
        Assert.Contains("PgMultiMaster:Conflicts:Tables:public.full_accounts:Columns:nope: node 'west': table public.full_accounts has no column 'nope'.", e.Problems);
        Assert.Contains("PgMultiMaster:Conflicts:Tables:public.full_accounts:Function: node 'east' has no function public.missing(local jsonb, remote jsonb, conflict_type text).", e.Problems);
        Assert.Contains("PgMultiMaster:Conflicts:Tables:public.ghost: table public.ghost is not replicated (not matched by PgMultiMaster:Tables).", e.Problems);
    }

    [Fact]
    public async Task Init_twice_changes_nothing_the_second_time()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output, """
            CREATE TABLE public.a (id int PRIMARY KEY);
            CREATE TABLE public."B b" (id int PRIMARY KEY);
            CREATE TABLE public.log (line text);
            """, configure: o => o.InsertOnlyTables = ["public.log"]);
        const string state = """
            SELECT (SELECT string_agg(slot_name || ':' || plugin || ':' || confirmed_flush_lsn, ',' ORDER BY slot_name) FROM pg_replication_slots WHERE database = current_database())
                || ' / ' || (SELECT string_agg(roname, ',' ORDER BY roname) FROM pg_replication_origin)
                || ' / ' || (SELECT string_agg(pubname || ':' || schemaname || '.' || tablename, ',' ORDER BY 1) FROM pg_publication_tables)
                || ' / ' || (SELECT string_agg(version::text, ',') FROM pgmm.schema_version)
                || ' / ' || (SELECT string_agg(cluster || '=' || name, ',') FROM pgmm.node)
            """;
        var before = new List<string>();
        foreach (var n in mesh.NodeNames) before.Add(await mesh.ScalarAsync<string>(n, state));

        var tables = await mesh.InitAsync();

        Assert.Equal(["public.B b", "public.a", "public.log"], tables.Select(t => t.QualifiedName).Order(StringComparer.Ordinal));
        var after = new List<string>();
        foreach (var n in mesh.NodeNames) after.Add(await mesh.ScalarAsync<string>(n, state));
        Assert.Equal(before, after);
        Assert.Contains($"{mesh.Options.Cluster}_east_west:pgoutput", after[0]);
        Assert.Contains($"{mesh.Options.Cluster}_insert_only:public.log", after[0]);
    }

    [Fact]
    public async Task Init_adds_a_newly_configured_table_to_the_publication()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output, "CREATE TABLE public.a (id int PRIMARY KEY); CREATE TABLE public.b (id int PRIMARY KEY);",
            nodes: 2, configure: o => o.Tables = ["public.a"]);
        mesh.Options.Tables = ["public.a", "public.b"];
        await mesh.InitAsync();
        await mesh.StartAllWorkersAsync();
        await mesh.ExecAsync("east", "INSERT INTO b VALUES (1)");
        await mesh.AssertConvergedAsync();
        Assert.Equal(1L, await mesh.ScalarAsync<long>("west", "SELECT count(*) FROM b"));
    }
}
