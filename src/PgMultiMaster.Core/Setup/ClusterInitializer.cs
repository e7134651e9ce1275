using Dapper;
using Microsoft.Extensions.Logging;
using Npgsql;
using PgMultiMaster.Configuration;
using PgMultiMaster.Diagnostics;
using PgMultiMaster.Sql;
using PgMultiMaster.Topology;

namespace PgMultiMaster.Setup;

/// <summary>
/// <c>pgmm init</c>: on every node the pgmm schema, the publications, the replication origins of its peers, the node's
/// number and its key sequences (<see cref="SequenceSetup"/>), and one permanent slot per outgoing link. Idempotent: what exists and is right is left alone.
/// </summary>
public sealed class ClusterInitializer(ClusterTopology topology, ILogger logger)
{
    public async Task<IReadOnlyList<ReplicatedTable>> InitAsync(CancellationToken ct)
    {
        var tables = await PrepareNodesAsync(ct).ConfigureAwait(false);
        await CreateSlotsAsync(ct).ConfigureAwait(false);
        // Everything else is in place: what is left for a superuser to run (DdlSetup).
        if (DdlProblems.Count > 0) throw new PrerequisiteException(DdlProblems);
        return tables;
    }

    /// <summary>Nodes where the DDL event triggers are chosen but pgmm's role may not create them, with what to run there.</summary>
    public List<string> DdlProblems { get; } = [];

    /// <summary>Checks every node, then creates everything but the slots; returns the replicated tables.</summary>
    public async Task<IReadOnlyList<ReplicatedTable>> PrepareNodesAsync(CancellationToken ct)
    {
        var check = await ClusterCheck.RunAsync(topology, ct).ConfigureAwait(false);
        if (check.Problems.Count > 0)
            throw new PrerequisiteException(check.Problems);

        foreach (var node in topology.Options.Nodes)
        {
            await using var conn = await ConnectionStrings.OpenAdminAsync(node.ConnectionString, "pgmm init", ct).ConfigureAwait(false);
            var applied = await SchemaScripts.ApplyAsync(conn, ct).ConfigureAwait(false);
            // pgmm's own changes (tombstone triggers, publications) are this node's: never captured as schema changes.
            await ExecAsync(conn, "SET pgmm.ddl = 'local'", ct).ConfigureAwait(false);
            if (applied.Count > 0)
                Log.Setup(logger, $"node '{node.Name}': pgmm schema at version {applied[^1]}");
            await ClaimNodeAsync(conn, node, topology.Options.Cluster, ct).ConfigureAwait(false);
            await SyncPublicationAsync(conn, node, topology.Publication, "insert, update, delete, truncate",
                check.Tables.Where(t => !t.InsertOnly), ct).ConfigureAwait(false);
            // pgmm's DDL queue travels with the insert-only tables: its rows are never updated or deleted remotely.
            await SyncPublicationAsync(conn, node, topology.InsertOnlyPublication, "insert, truncate",
                check.Tables.Where(t => t.InsertOnly).Append(DdlSetup.Log), ct).ConfigureAwait(false);
            if (await DdlSetup.ApplyAsync(conn, node, topology, ct).ConfigureAwait(false) is { } ddlProblem)
            {
                DdlProblems.Add(ddlProblem);
                Log.DdlSetupWarning(logger, node.Name, ddlProblem);
            }
            foreach (var peer in topology.Options.Nodes.Where(n => n.Name != node.Name))
                await CreateOriginAsync(conn, node, topology.OriginName(peer.Name), ct).ConfigureAwait(false);
            foreach (var table in check.Tables.Where(t => !t.InsertOnly))
                await CreateTombstoneTriggersAsync(conn, node, table, ct).ConfigureAwait(false);
        }
        // After every node has claimed its place: node numbers are assigned across the cluster.
        await new SequenceSetup(topology, logger).ApplyAsync(check.Tables, ct).ConfigureAwait(false);

        return check.Tables;
    }

    /// <summary>One permanent slot per link; a slot that exists is kept.</summary>
    public async Task CreateSlotsAsync(CancellationToken ct)
    {
        // Creating a logical slot waits for every transaction open on that server to end. One slot at a time,
        // each on a connection that holds nothing open anywhere else, so init cannot deadlock across nodes.
        foreach (var link in topology.AllLinks())
        {
            await using var conn = await ConnectionStrings.OpenAdminAsync(link.Source.ConnectionString, "pgmm init", ct).ConfigureAwait(false);
            await CreateSlotAsync(conn, link, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Removes the cluster's slots, origins, publications and tombstone triggers (the pgmm schema and its records stay). Workers must be stopped.</summary>
    public async Task UninstallAsync(CancellationToken ct)
    {
        foreach (var node in topology.Options.Nodes)
        {
            await using var conn = await ConnectionStrings.OpenAdminAsync(node.ConnectionString, "pgmm init", ct).ConfigureAwait(false);
            var recorded = await ServerObjects.HasSlotRecordsAsync(conn, ct).ConfigureAwait(false);
            foreach (var link in topology.LinksFrom(node.Name))
                await ServerObjects.DropSlotAsync(conn, link.SlotName, recorded, ct).ConfigureAwait(false);
            foreach (var peer in topology.Options.Nodes.Where(n => n.Name != node.Name))
                await ServerObjects.DropOriginAsync(conn, topology.OriginName(peer.Name), ct).ConfigureAwait(false);
            await ServerObjects.DropOriginAsync(conn, topology.RepairOriginName, ct).ConfigureAwait(false); // pgmm repair's, if it ever ran here
            await ServerObjects.DropNodeObjectsAsync(conn, topology, ct).ConfigureAwait(false);
            Log.Setup(logger, $"node '{node.Name}': removed the slots, origins and publications of cluster '{topology.Options.Cluster}'");
        }
    }

    // ClusterCheck refused a database already claimed under another name, so this only records a new claim.
    private static Task ClaimNodeAsync(NpgsqlConnection conn, NodeOptions node, string cluster, CancellationToken ct) =>
        ExecAsync(conn, "INSERT INTO pgmm.node (cluster, name) VALUES ($1, $2) ON CONFLICT (cluster) DO NOTHING", ct, cluster, node.Name);

    private async Task SyncPublicationAsync(
        NpgsqlConnection conn, NodeOptions node, string publication, string publish, IEnumerable<ReplicatedTable> tables, CancellationToken ct)
    {
        var quoted = Quote.Ident(publication);
        if (await conn.ExecuteScalarAsync<long>(new CommandDefinition(
                "SELECT pg_catalog.count(*) FROM pg_publication WHERE pubname = @publication", new { publication }, cancellationToken: ct)).ConfigureAwait(false) == 0)
        {
            await ExecAsync(conn, $"CREATE PUBLICATION {quoted} WITH (publish = {Quote.Literal(publish)})", ct).ConfigureAwait(false);
            Log.Setup(logger, $"node '{node.Name}': created publication {publication}");
        }

        var current = (await conn.QueryAsync<string>(new CommandDefinition(
            "SELECT pg_catalog.format('%I.%I', schemaname, tablename) FROM pg_publication_tables WHERE pubname = @publication",
            new { publication }, cancellationToken: ct)).ConfigureAwait(false)).ToHashSet();
        // format('%I') quotes only where needed; compare in the same form.
        var wanted = new Dictionary<string, ReplicatedTable>();
        foreach (var t in tables)
            wanted[(await conn.ExecuteScalarAsync<string>(new CommandDefinition(
                "SELECT pg_catalog.format('%I.%I', @schema, @name)", new { schema = t.Schema, name = t.Name }, cancellationToken: ct)).ConfigureAwait(false))!] = t;

        var add = wanted.Where(w => !current.Contains(w.Key)).Select(w => w.Value.Quoted).ToList();
        var drop = current.Where(c => !wanted.ContainsKey(c)).ToList();
        if (add.Count > 0)
        {
            await ExecAsync(conn, $"ALTER PUBLICATION {quoted} ADD TABLE {string.Join(", ", add)}", ct).ConfigureAwait(false);
            Log.Setup(logger, $"node '{node.Name}': publication {publication} now includes {string.Join(", ", add)}");
        }
        if (drop.Count > 0)
        {
            await ExecAsync(conn, $"ALTER PUBLICATION {quoted} DROP TABLE {string.Join(", ", drop)}", ct).ConfigureAwait(false);
            Log.Setup(logger, $"node '{node.Name}': publication {publication} no longer includes {string.Join(", ", drop)}");
        }
    }

    /// <summary>
    /// Deletes, and updates that change the key, leave a tombstone whose commit timestamp and origin order them
    /// against concurrent changes of the same key. ENABLE ALWAYS: applied deletes record theirs too.
    /// </summary>
    private async Task CreateTombstoneTriggersAsync(NpgsqlConnection conn, NodeOptions node, ReplicatedTable table, CancellationToken ct)
    {
        var key = (await conn.QueryAsync<string>(new CommandDefinition(
            """
            SELECT a.attname::text FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
            JOIN pg_class c ON c.oid = i.indrelid
            -- the key apply finds rows by: the replica identity index if there is one, else the primary key
            WHERE i.indrelid = pg_catalog.to_regclass(@table) AND (CASE WHEN c.relreplident = 'i' THEN i.indisreplident ELSE i.indisprimary END)
            ORDER BY pg_catalog.array_position(i.indkey::int2[], a.attnum)
            """, new { table = table.Quoted }, cancellationToken: ct)).ConfigureAwait(false)).Distinct().ToList();
        if (key.Count == 0) return; // matched by all columns: no key to remember

        if (await conn.ExecuteScalarAsync<long>(new CommandDefinition(
                "SELECT pg_catalog.count(*) FROM pg_trigger WHERE tgrelid = pg_catalog.to_regclass(@table) AND tgname = 'pgmm_tombstone'",
                new { table = table.Quoted }, cancellationToken: ct)).ConfigureAwait(false) > 0)
            return;
        var args = string.Join(", ", key.Select(Quote.Literal));
        var keyChanged = string.Join(" OR ", key.Select(k => $"OLD.{Quote.Ident(k)} IS DISTINCT FROM NEW.{Quote.Ident(k)}"));
        await ExecAsync(conn, $"""
            CREATE TRIGGER pgmm_tombstone AFTER DELETE ON {table.Quoted} FOR EACH ROW EXECUTE FUNCTION pgmm.record_tombstone({args});
            CREATE TRIGGER pgmm_tombstone_key AFTER UPDATE ON {table.Quoted} FOR EACH ROW WHEN ({keyChanged}) EXECUTE FUNCTION pgmm.record_tombstone({args});
            ALTER TABLE {table.Quoted} ENABLE ALWAYS TRIGGER pgmm_tombstone, ENABLE ALWAYS TRIGGER pgmm_tombstone_key;
            """, ct).ConfigureAwait(false);
        Log.Setup(logger, $"node '{node.Name}': tombstone triggers on {table.Quoted}");
    }

    private async Task CreateOriginAsync(NpgsqlConnection conn, NodeOptions node, string origin, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(
            "SELECT pg_catalog.pg_replication_origin_create($1) FROM (SELECT 1) x WHERE NOT EXISTS (SELECT 1 FROM pg_replication_origin WHERE roname = $1)", conn);
        cmd.Parameters.Add(new NpgsqlParameter { Value = origin });
        if (await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false) is not null)
            Log.Setup(logger, $"node '{node.Name}': created replication origin {origin}");
    }

    private async Task CreateSlotAsync(NpgsqlConnection conn, Link link, CancellationToken ct)
    {
        // ClusterCheck refused a same-named slot of another plugin or database: an existing one is ours.
        if (await conn.ExecuteScalarAsync<long>(new CommandDefinition(
                "SELECT pg_catalog.count(*) FROM pg_replication_slots WHERE slot_name = @slot", new { slot = link.SlotName }, cancellationToken: ct)).ConfigureAwait(false) > 0)
        {
            // Made by a version before the record: from now on a drop of it is told from a slot never created.
            await ExecAsync(conn, "INSERT INTO pgmm.slot_progress (slot_name, applied_lsn) VALUES ($1, '0/0') ON CONFLICT (slot_name) DO NOTHING", ct, link.SlotName).ConfigureAwait(false);
            return;
        }
        Log.Setup(logger, $"node '{link.Source.Name}': creating slot {link.SlotName} (waits for transactions open on that server to end)");
        await ExecAsync(conn, "SELECT pg_catalog.pg_create_logical_replication_slot($1, 'pgoutput')", ct, link.SlotName).ConfigureAwait(false);
        await ServerObjects.RecordNewSlotAsync(conn, link.SlotName, ct).ConfigureAwait(false);
    }

    private static Task ExecAsync(NpgsqlConnection conn, string sql, CancellationToken ct, params object[] args) =>
        ServerObjects.ExecAsync(conn, sql, ct, args);
}
