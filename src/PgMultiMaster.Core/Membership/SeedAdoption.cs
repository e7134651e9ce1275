using Dapper;
using Microsoft.Extensions.Logging;
using Npgsql;
using PgMultiMaster.Diagnostics;
using PgMultiMaster.Setup;
using PgMultiMaster.Sql;
using PgMultiMaster.Topology;

namespace PgMultiMaster.Membership;

/// <summary>What to do with a target table that already holds rows pgmm did not copy.</summary>
public enum NonEmptyTables
{
    /// <summary>Stop before anything is copied, naming the tables.</summary>
    Refuse,

    /// <summary>Empty them first (their rows are lost on that node).</summary>
    Truncate,

    /// <summary>Copy nothing into them: the operator vouches that they already match the seed.</summary>
    Keep,
}

/// <summary>
/// <c>pgmm init --seed-from NODE</c>: the other nodes receive the seed's data while the application goes on writing on
/// the seed. For each other node, the seed's slot toward it is created with an exported snapshot, the tables are
/// copied in that snapshot (<see cref="SnapshotCopy"/>), and the link later streams exactly what the snapshot lacks.
/// A node whose copy was interrupted is copied again from a new slot: the tables pgmm copied into it (recorded in
/// pgmm.copy_state) are emptied first.
/// </summary>
public sealed class SeedAdoption(ClusterTopology topology, CopySettings settings, NonEmptyTables nonEmpty, ILogger logger, TimeProvider time)
{
    /// <summary>
    /// The whole <c>init --seed-from</c>: everything but the slots on every node, then the copies (each creating the
    /// seed's slot toward its target), then the other nodes' slots — after their copy, so a copy is never streamed.
    /// Returns the replicated tables and the copies made (none for a node that already holds the seed's data).
    /// </summary>
    public async Task<(IReadOnlyList<ReplicatedTable> Tables, IReadOnlyList<CopyProgress> Copies)> InitAsync(string seed, CancellationToken ct)
    {
        topology.NodeNamed(seed);
        var initializer = new ClusterInitializer(topology, logger);
        var tables = await initializer.PrepareNodesAsync(ct).ConfigureAwait(false);
        var copies = await AdoptAsync(seed, tables, ct).ConfigureAwait(false);
        await initializer.CreateSlotsAsync(ct).ConfigureAwait(false);
        return (tables, copies);
    }

    private sealed record TargetState(Link Link, bool SlotExists, IReadOnlyDictionary<string, long?> Copied, IReadOnlyList<ReplicatedTable> NonEmpty)
    {
        public bool Adopted(IReadOnlyList<ReplicatedTable> tables) => SlotExists && tables.All(t => Copied.ContainsKey(t.QualifiedName));
    }

    public async Task<IReadOnlyList<CopyProgress>> AdoptAsync(string seed, IReadOnlyList<ReplicatedTable> tables, CancellationToken ct)
    {
        var states = new List<TargetState>();
        foreach (var link in topology.LinksFrom(seed))
            states.Add(await ReadStateAsync(link, tables, ct).ConfigureAwait(false));

        var pending = states.Where(s => !s.Adopted(tables)).ToList();
        if (nonEmpty == NonEmptyTables.Refuse)
        {
            var problems = pending.SelectMany(s => s.NonEmpty.Select(t =>
                $"node '{s.Link.Target.Name}': table {t.Quoted} already holds rows; the seed's rows are copied only into empty tables. " +
                "Empty it, or run init with --non-empty truncate (empty it) or --non-empty keep (copy nothing into it: it already matches the seed).")).ToList();
            if (problems.Count > 0) throw new PrerequisiteException(problems);
        }

        var copies = new List<CopyProgress>();
        foreach (var state in states)
        {
            if (!pending.Contains(state))
            {
                Log.Setup(logger, $"node '{state.Link.Target.Name}': already holds the data of '{seed}' (pgmm.copy_state)");
                continue;
            }
            var kept = await PrepareAsync(state, tables, ct).ConfigureAwait(false);
            Log.Setup(logger, $"node '{seed}': creating slot {state.Link.SlotName} with an exported snapshot (waits for transactions open on that server to end)");
            var snapshot = await ExportedSnapshot.CreateAsync(state.Link, ct).ConfigureAwait(false);
            var copy = new SnapshotCopy(topology, state.Link.Source, state.Link.Target, settings, time);
            copies.Add(await copy.RunAsync(snapshot, tables.Where(t => !kept.Contains(t.QualifiedName)).ToList(), recent: null, ct).ConfigureAwait(false));
        }
        return copies;
    }

    private async Task<TargetState> ReadStateAsync(Link link, IReadOnlyList<ReplicatedTable> tables, CancellationToken ct)
    {
        bool slotExists;
        await using (var conn = await ConnectionStrings.OpenAdminAsync(link.Source.ConnectionString, "pgmm init", ct).ConfigureAwait(false))
            slotExists = await conn.ExecuteScalarAsync<bool>(new CommandDefinition(
                "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_replication_slots WHERE slot_name = @slot)", new { slot = link.SlotName }, cancellationToken: ct)).ConfigureAwait(false);

        await using var target = await ConnectionStrings.OpenAdminAsync(link.Target.ConnectionString, "pgmm init", ct).ConfigureAwait(false);
        var copied = (await target.QueryAsync<(string Table, long? Rows)>(new CommandDefinition(
            "SELECT table_name, rows FROM pgmm.copy_state WHERE source = @source", new { source = link.Source.Name }, cancellationToken: ct)).ConfigureAwait(false))
            .ToDictionary(r => r.Table, r => r.Rows);
        var nonEmpty = new List<ReplicatedTable>();
        foreach (var t in tables.Where(t => !copied.ContainsKey(t.QualifiedName)))
            if (await target.ExecuteScalarAsync<bool>(new CommandDefinition($"SELECT EXISTS (SELECT 1 FROM {t.Quoted})", cancellationToken: ct)).ConfigureAwait(false))
                nonEmpty.Add(t);
        return new TargetState(link, slotExists, copied, nonEmpty);
    }

    /// <summary>
    /// Drops what an interrupted copy left (the slot, the tables it filled), empties or keeps the non-empty tables,
    /// and returns the tables kept as they are.
    /// </summary>
    private async Task<HashSet<string>> PrepareAsync(TargetState state, IReadOnlyList<ReplicatedTable> tables, CancellationToken ct)
    {
        var link = state.Link;
        if (state.SlotExists)
        {
            await using var conn = await ConnectionStrings.OpenAdminAsync(link.Source.ConnectionString, "pgmm init", ct).ConfigureAwait(false);
            await ServerObjects.DropSlotAsync(conn, link.SlotName, recorded: true, ct).ConfigureAwait(false);
            Log.Setup(logger, $"node '{link.Source.Name}': dropped slot {link.SlotName}: the copy into '{link.Target.Name}' had not finished, it starts again");
        }

        var empty = tables.Where(t => state.Copied.TryGetValue(t.QualifiedName, out var rows) && rows is not null).ToList();
        var kept = tables.Where(t => state.Copied.TryGetValue(t.QualifiedName, out var rows) && rows is null).Select(t => t.QualifiedName).ToHashSet();
        if (nonEmpty == NonEmptyTables.Truncate) empty.AddRange(state.NonEmpty);
        if (nonEmpty == NonEmptyTables.Keep) kept.UnionWith(state.NonEmpty.Select(t => t.QualifiedName));

        await using var target = await ConnectionStrings.OpenAdminAsync(link.Target.ConnectionString, "pgmm init", ct).ConfigureAwait(false);
        // Under a copy origin, like the copy itself: the target's own slots, if init made them before, skip it as pgmm's.
        await ExecAsync(target, "SELECT pg_catalog.pg_replication_origin_create($1) WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_replication_origin WHERE roname = $1)",
            ct, topology.CopyOriginName(1)).ConfigureAwait(false);
        await ExecAsync(target, "SELECT pg_catalog.pg_replication_origin_session_setup($1)", ct, topology.CopyOriginName(1)).ConfigureAwait(false);
        await ExecAsync(target, "BEGIN", ct).ConfigureAwait(false);
        if (empty.Count > 0)
        {
            await ExecAsync(target, $"TRUNCATE {string.Join(", ", empty.Select(t => t.Quoted))}", ct).ConfigureAwait(false);
            Log.Setup(logger, $"node '{link.Target.Name}': emptied {string.Join(", ", empty.Select(t => t.Quoted))} before copying from '{link.Source.Name}'");
        }
        await ExecAsync(target, "DELETE FROM pgmm.copy_state", ct).ConfigureAwait(false);
        foreach (var table in kept)
            await ExecAsync(target, "INSERT INTO pgmm.copy_state (table_name, source) VALUES ($1, $2)", ct, table, link.Source.Name).ConfigureAwait(false);
        await ExecAsync(target, "COMMIT", ct).ConfigureAwait(false);
        return kept;
    }

    private static Task ExecAsync(NpgsqlConnection conn, string sql, CancellationToken ct, params object[] args) =>
        ServerObjects.ExecAsync(conn, sql, ct, args);
}
