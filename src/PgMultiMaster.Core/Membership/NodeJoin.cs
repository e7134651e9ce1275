using Dapper;
using Microsoft.Extensions.Logging;
using Npgsql;
using PgMultiMaster.Configuration;
using PgMultiMaster.Diagnostics;
using PgMultiMaster.Setup;
using PgMultiMaster.Sql;
using PgMultiMaster.Topology;

namespace PgMultiMaster.Membership;

/// <summary>
/// <c>pgmm node add NAME --from SOURCE</c>: a node with the schema only joins a running cluster while every node
/// writes (ADR 0017).
/// <list type="number">
/// <item>Everything but the slots on every node, the new one included (its origins, theirs for it).</item>
/// <item>On every other node B, the slot B → NAME; then wait until SOURCE has applied all that B wrote before that slot
/// (B's slot toward SOURCE confirmed past it), so nothing of B's falls between the copy and the new slot.</item>
/// <item>On SOURCE, the slot SOURCE → NAME with an exported snapshot, and the copy in it (<see cref="SnapshotCopy"/>):
/// rows written recently are copied with their own commit time and origin, so conflicting changes still in flight
/// are resolved on NAME as on SOURCE.</item>
/// <item>NAME's progress for B is what SOURCE had applied from B in that snapshot (<c>pgmm.applied_progress</c>, read in
/// the snapshot): B's later changes come once, through B → NAME.</item>
/// <item>NAME's own slots.</item>
/// </list>
/// </summary>
public sealed class NodeJoin(ClusterTopology cluster, NodeOptions joining, string from, CopySettings settings, NonEmptyTables nonEmpty,
    TimeSpan wait, ILogger logger, TimeProvider time)
{
    /// <summary>How far before the join started a row counts as recent: commit timestamps of one node are not strictly
    /// in commit order, and the clocks of two nodes differ a little (beyond this, last-writer-wins is unreliable anyway).</summary>
    public static readonly TimeSpan ClockMargin = TimeSpan.FromSeconds(5);

    /// <summary>The cluster with the new node, as the configuration will list it.</summary>
    public ClusterTopology Joined { get; } = new(With(cluster.Options, joining));

    public async Task<CopyProgress?> JoinAsync(CancellationToken ct)
    {
        if (cluster.Options.Nodes.Any(n => n.Name == joining.Name))
            throw new PrerequisiteException([$"node '{joining.Name}' is already in {PgMultiMasterOptions.SectionName}:Nodes."]);
        var source = cluster.NodeNamed(from);
        var initializer = new ClusterInitializer(Joined, logger);
        var tables = await initializer.PrepareNodesAsync(ct).ConfigureAwait(false);
        var toNew = Joined.Options.Nodes.Where(n => n.Name != joining.Name).Select(n => Joined.LinksFrom(n.Name).Single(l => l.Target.Name == joining.Name)).ToList();
        var fromSource = toNew.Single(l => l.Source.Name == from);

        var state = await ReadStateAsync(fromSource, tables, ct).ConfigureAwait(false);
        if (state.Joined)
        {
            Log.Setup(logger, $"node '{joining.Name}': already holds the data of '{from}' (pgmm.copy_state)");
            await initializer.CreateSlotsAsync(ct).ConfigureAwait(false);
            return null;
        }
        if (state.NonEmpty.Count > 0 && nonEmpty != NonEmptyTables.Truncate)
            throw new PrerequisiteException(state.NonEmpty.Select(t =>
                $"node '{joining.Name}': table {t.Quoted} already holds rows; a joining node receives the data of '{from}' into empty tables. " +
                "Empty it, or run node add with --non-empty truncate.").ToList());
        await StartOverAsync(toNew, state, ct).ConfigureAwait(false);

        // The earliest commit time any change still to come can carry: rows written since are copied exactly.
        var started = await ClockAsync(source, ct).ConfigureAwait(false);
        foreach (var link in toNew.Where(l => l != fromSource))
        {
            var created = await CreateSlotAsync(link, ct).ConfigureAwait(false);
            await WaitAppliedAsync(link.Source, source, created, ct).ConfigureAwait(false);
        }
        Log.Setup(logger, $"node '{from}': creating slot {fromSource.SlotName} with an exported snapshot (waits for transactions open on that server to end)");
        var snapshot = await ExportedSnapshot.CreateAsync(fromSource, ct).ConfigureAwait(false);

        var applied = await AppliedAsync(snapshot, source, ct).ConfigureAwait(false);
        var since = applied.Values.Where(a => a.At is not null).Select(a => a.At!.Value).Append(started).Min() - ClockMargin;
        var recent = new SnapshotCopy.Recent(since.ToString("yyyy-MM-dd HH:mm:ss.ffffff+00", System.Globalization.CultureInfo.InvariantCulture),
            applied.Where(a => a.Key != Joined.OriginName(joining.Name)).ToDictionary(a => a.Key, a => (a.Value.Lsn, a.Value.AtText)));
        Log.Setup(logger, $"node '{from}': snapshot at {new NpgsqlTypes.NpgsqlLogSequenceNumber(snapshot.ConsistentPoint)}; it holds " +
                          string.Join(", ", recent.Applied.Select(a => $"{a.Key} up to {new NpgsqlTypes.NpgsqlLogSequenceNumber(a.Value.Lsn)} ({a.Value.CommittedAt})")) +
                          $"; rows committed since {recent.Since} are copied with their commit time and origin");
        var copy = await new SnapshotCopy(Joined, source, joining, settings, time).RunAsync(snapshot, tables, recent, ct).ConfigureAwait(false);

        await initializer.CreateSlotsAsync(ct).ConfigureAwait(false);
        return copy;
    }

    private sealed record State(bool Joined, IReadOnlyList<ReplicatedTable> Copied, IReadOnlyList<ReplicatedTable> NonEmpty);

    private async Task<State> ReadStateAsync(Link fromSource, IReadOnlyList<ReplicatedTable> tables, CancellationToken ct)
    {
        bool slot;
        await using (var conn = await ConnectionStrings.OpenAdminAsync(fromSource.Source.ConnectionString, "pgmm node add", ct).ConfigureAwait(false))
            slot = await conn.ExecuteScalarAsync<bool>(new CommandDefinition(
                "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_replication_slots WHERE slot_name = @slot)", new { slot = fromSource.SlotName }, cancellationToken: ct)).ConfigureAwait(false);
        await using var target = await ConnectionStrings.OpenAdminAsync(joining.ConnectionString, "pgmm node add", ct).ConfigureAwait(false);
        var copied = (await target.QueryAsync<string>(new CommandDefinition(
            "SELECT table_name FROM pgmm.copy_state WHERE source = @from", new { from }, cancellationToken: ct)).ConfigureAwait(false)).ToHashSet();
        var nonEmpty = new List<ReplicatedTable>();
        foreach (var t in tables.Where(t => !copied.Contains(t.QualifiedName)))
            if (await target.ExecuteScalarAsync<bool>(new CommandDefinition($"SELECT EXISTS (SELECT 1 FROM {t.Quoted})", cancellationToken: ct)).ConfigureAwait(false))
                nonEmpty.Add(t);
        return new State(slot && tables.All(t => copied.Contains(t.QualifiedName)), tables.Where(t => copied.Contains(t.QualifiedName)).ToList(), nonEmpty);
    }

    /// <summary>
    /// What an interrupted join left goes: the slots toward the new node (their snapshot is gone), the rows copied
    /// into it and, told so, the rows it held; its pgmm.copy_state, tombstones and progress records.
    /// </summary>
    private async Task StartOverAsync(IReadOnlyList<Link> toNew, State state, CancellationToken ct)
    {
        foreach (var link in toNew)
        {
            await using var conn = await ConnectionStrings.OpenAdminAsync(link.Source.ConnectionString, "pgmm node add", ct).ConfigureAwait(false);
            await ServerObjects.DropSlotAsync(conn, link.SlotName, recorded: true, ct).ConfigureAwait(false);
        }
        var empty = state.Copied.Concat(state.NonEmpty).ToList();
        await using var target = await ConnectionStrings.OpenAdminAsync(joining.ConnectionString, "pgmm node add", ct).ConfigureAwait(false);
        await ExecAsync(target, "BEGIN", ct).ConfigureAwait(false);
        if (empty.Count > 0)
        {
            await ExecAsync(target, $"TRUNCATE {string.Join(", ", empty.Select(t => t.Quoted))}", ct).ConfigureAwait(false);
            Log.Setup(logger, $"node '{joining.Name}': emptied {string.Join(", ", empty.Select(t => t.Quoted))} before copying from '{from}'");
        }
        await ExecAsync(target, "DELETE FROM pgmm.copy_state; DELETE FROM pgmm.tombstone; DELETE FROM pgmm.applied_progress", ct).ConfigureAwait(false);
        await ExecAsync(target, "COMMIT", ct).ConfigureAwait(false);
    }

    /// <summary>Creates the slot (on its source) and returns its start: what the source wrote before is not in it.</summary>
    private async Task<ulong> CreateSlotAsync(Link link, CancellationToken ct)
    {
        Log.Setup(logger, $"node '{link.Source.Name}': creating slot {link.SlotName} (waits for transactions open on that server to end)");
        await using var conn = await ConnectionStrings.OpenAdminAsync(link.Source.ConnectionString, "pgmm node add", ct).ConfigureAwait(false);
        var lsn = await conn.ExecuteScalarAsync<string>(new CommandDefinition(
            "SELECT lsn::text FROM pg_catalog.pg_create_logical_replication_slot(@slot, 'pgoutput')", new { slot = link.SlotName }, cancellationToken: ct)).ConfigureAwait(false);
        await ServerObjects.RecordNewSlotAsync(conn, link.SlotName, ct).ConfigureAwait(false);
        return (ulong)NpgsqlTypes.NpgsqlLogSequenceNumber.Parse(lsn!);
    }

    /// <summary>Waits until <paramref name="source"/> has applied everything <paramref name="node"/> wrote before <paramref name="lsn"/>.</summary>
    private async Task WaitAppliedAsync(NodeOptions node, NodeOptions source, ulong lsn, CancellationToken ct)
    {
        var slot = cluster.SlotName(node.Name, source.Name);
        var at = new NpgsqlTypes.NpgsqlLogSequenceNumber(lsn).ToString();
        var deadline = time.GetUtcNow() + wait;
        await using var conn = await ConnectionStrings.OpenAdminAsync(node.ConnectionString, "pgmm node add", ct).ConfigureAwait(false);
        while (!await conn.ExecuteScalarAsync<bool>(new CommandDefinition(
                   "SELECT coalesce(confirmed_flush_lsn >= @at::pg_lsn, false) FROM pg_catalog.pg_replication_slots WHERE slot_name = @slot",
                   new { at, slot }, cancellationToken: ct)).ConfigureAwait(false))
        {
            if (time.GetUtcNow() > deadline)
                throw new PrerequisiteException([$"the link {node.Name} -> {source.Name} has not confirmed {at} within {wait.TotalSeconds:0} s: " +
                                                 $"'{source.Name}' must have applied what '{node.Name}' wrote before the join. Is the worker beside '{node.Name}' running? Nothing was copied."]);
            await Task.Delay(TimeSpan.FromMilliseconds(200), time, ct).ConfigureAwait(false);
        }
        Log.Setup(logger, $"node '{source.Name}': has applied what '{node.Name}' wrote before {at}");
    }

    /// <summary>What the snapshot holds of each other node: pgmm.applied_progress as of the snapshot.</summary>
    private static async Task<Dictionary<string, (ulong Lsn, DateTime? At, string? AtText)>> AppliedAsync(ExportedSnapshot snapshot, NodeOptions source, CancellationToken ct)
    {
        await using var conn = await snapshot.ImportAsync(source.ConnectionString, "pgmm node add", ct).ConfigureAwait(false);
        var rows = await conn.QueryAsync<(string Origin, string Lsn, DateTime? At, string? AtText)>(new CommandDefinition(
            "SELECT origin, lsn::text, committed_at, committed_at::text FROM pgmm.applied_progress", cancellationToken: ct)).ConfigureAwait(false);
        return rows.ToDictionary(r => r.Origin, r => ((ulong)NpgsqlTypes.NpgsqlLogSequenceNumber.Parse(r.Lsn), r.At, r.AtText));
    }

    private static async Task<DateTime> ClockAsync(NodeOptions node, CancellationToken ct)
    {
        await using var conn = await ConnectionStrings.OpenAdminAsync(node.ConnectionString, "pgmm node add", ct).ConfigureAwait(false);
        return await conn.ExecuteScalarAsync<DateTime>(new CommandDefinition("SELECT pg_catalog.clock_timestamp()", cancellationToken: ct)).ConfigureAwait(false);
    }

    private static PgMultiMasterOptions With(PgMultiMasterOptions options, NodeOptions node)
    {
        var copy = System.Text.Json.JsonSerializer.Deserialize<PgMultiMasterOptions>(System.Text.Json.JsonSerializer.Serialize(options))!;
        copy.Nodes.Add(node);
        return copy;
    }

    private static Task ExecAsync(NpgsqlConnection conn, string sql, CancellationToken ct, params object[] args) =>
        ServerObjects.ExecAsync(conn, sql, ct, args);
}
