using System.Text.Json;
using Dapper;
using Npgsql;
using PgMultiMaster.Configuration;
using PgMultiMaster.Progress;
using PgMultiMaster.Sql;
using PgMultiMaster.Topology;

namespace PgMultiMaster.Monitoring;

/// <summary>
/// Reads a node's status from its database: the report its worker last published, its outgoing slots, its
/// dead-letter and tombstone counts, and its recent conflicts and dead letters. Works whether or not the worker
/// runs — a stale report means the worker is down, and the slots still tell how far behind its links are.
/// </summary>
/// <param name="topology">The cluster whose nodes are read.</param>
/// <param name="time">The clock that stamps the status (the worker's own; the system clock when omitted).</param>
public sealed class ClusterStatusReader(ClusterTopology topology, TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    private const int Recent = 20;

    /// <summary>A worker's report older than this means the worker is not running.</summary>
    public TimeSpan StaleAfter => TimeSpan.FromTicks(Math.Max(TimeSpan.FromSeconds(10).Ticks, topology.Options.Monitoring.PollInterval.Ticks * 3));

    public async Task<ClusterStatus> ReadAsync(string? servedBy, Func<string, IReadOnlyList<LinkView>?>? liveLinks, CancellationToken ct)
    {
        var nodes = await Task.WhenAll(topology.Options.Nodes.Select(n => ReadNodeAsync(n, liveLinks?.Invoke(n.Name), ct))).ConfigureAwait(false);
        return new ClusterStatus(topology.Options.Cluster, _time.GetUtcNow(), servedBy, nodes)
        {
            MaxWalRetainedBytes = topology.Options.Monitoring.MaxWalRetainedBytes,
        };
    }

    /// <param name="live">The links as the worker in this process sees them (its own node), else null.</param>
    public async Task<NodeStatus> ReadNodeAsync(NodeOptions node, IReadOnlyList<LinkView>? live, CancellationToken ct)
    {
        try
        {
            await using var conn = await ConnectionStrings.OpenAdminAsync(node.ConnectionString, "pgmm status", ct).ConfigureAwait(false);
            var slots = await ReadSlotsAsync(conn, node.Name, ct).ConfigureAwait(false);
            var facts = await SlotRecord.ReadAsync(conn, topology.LinksFrom(node.Name).Select(l => l.SlotName).ToList(), ct).ConfigureAwait(false);
            var (startedAt, seenAt, age, report) = await ReadReportAsync(conn, node.Name, ct).ConfigureAwait(false);
            var up = live is not null || age < StaleAfter;
            var links = topology.LinksFrom(node.Name).Select(l =>
            {
                slots.TryGetValue(l.Target.Name, out var slot);
                // From the source alone, with or without a worker: a slot dropped or invalidated is lost.
                var lost = facts.TryGetValue(l.SlotName, out var f) ? ResumeCheck.Lost(l, f) : null;
                var reported = (live ?? (up ? report?.Links : null))?.FirstOrDefault(x => x?.Target == l.Target.Name);
                if (reported is not null)
                    return reported with
                    {
                        LagBytes = slot?.LagBytes ?? reported.LagBytes, WalRetainedBytes = slot?.Retained ?? reported.WalRetainedBytes,
                        State = lost is null ? reported.State : "slot_lost", LastError = lost ?? reported.LastError,
                    };
                var why = lost ?? (slot is null ? $"slot {l.SlotName} is missing on {node.Name}: run pgmm init"
                    : seenAt is null ? $"the worker of {node.Name} has not reported" : $"the worker of {node.Name} last reported at {seenAt:u}");
                var old = report?.Links?.FirstOrDefault(x => x?.Target == l.Target.Name);
                return new LinkView(node.Name, l.Target.Name, lost is null ? "down" : "slot_lost", slot?.LagBytes, null, slot?.Retained, null, slot?.Confirmed,
                    old?.TransactionsApplied ?? 0, old?.RowsApplied ?? 0, old?.Conflicts ?? 0, old?.Parked ?? 0, old?.Retries ?? 0, why, seenAt);
            }).ToList();

            var (deadLetters, tombstones) = await ReadCountsAsync(conn, ct).ConfigureAwait(false);
            return new NodeStatus
            {
                Node = node.Name, Worker = up ? "up" : "down", WorkerSeenAt = live is not null ? _time.GetUtcNow() : seenAt, StartedAt = startedAt,
                DeadLetters = deadLetters, Tombstones = tombstones, Links = links,
                RecentConflicts = await ReadConflictsAsync(conn, ct).ConfigureAwait(false),
                RecentDeadLetters = await ReadDeadLettersAsync(conn, ct).ConfigureAwait(false),
                History = report?.History ?? [],
            };
        }
        catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.UndefinedTable or PostgresErrorCodes.InvalidSchemaName)
        {
            var why = $"node {node.Name} has no pgmm catalog ({e.MessageText}): run pgmm init";
            return Unread(node, live, why, why, reachable: true);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or System.Net.Sockets.SocketException)
        {
            return Unread(node, live, e.Message, $"node {node.Name} unreachable: {e.Message}", reachable: false);
        }
    }

    /// <summary>A node whose database could not be read: its links are down unless this process runs them.</summary>
    private NodeStatus Unread(NodeOptions node, IReadOnlyList<LinkView>? live, string error, string linkError, bool reachable) => new()
    {
        Node = node.Name, Worker = live is not null ? "up" : "down", Reachable = reachable, Error = error,
        Links = live ?? topology.LinksFrom(node.Name).Select(l => new LinkView(node.Name, l.Target.Name, "down",
            null, null, null, null, null, 0, 0, 0, 0, 0, linkError, _time.GetUtcNow())).ToList(),
    };

    private sealed record Slot(long? LagBytes, long? Retained, string? Confirmed);

    private async Task<Dictionary<string, Slot>> ReadSlotsAsync(NpgsqlConnection conn, string node, CancellationToken ct)
    {
        var byName = topology.LinksFrom(node).ToDictionary(l => l.SlotName, l => l.Target.Name);
        var rows = await conn.QueryAsync<(string Name, long? Lag, long? Retained, string? Confirmed)>(new CommandDefinition(
            """
            SELECT slot_name, (pg_catalog.pg_current_wal_lsn() - confirmed_flush_lsn)::bigint, (pg_catalog.pg_current_wal_lsn() - restart_lsn)::bigint,
                   confirmed_flush_lsn::text
            FROM pg_replication_slots WHERE slot_name = ANY(@slots)
            """, new { slots = byName.Keys.ToArray() }, cancellationToken: ct)).ConfigureAwait(false);
        return rows.ToDictionary(s => byName[s.Name], s => new Slot(s.Lag is { } lag ? Math.Max(0, lag) : null, s.Retained, s.Confirmed));
    }

    private async Task<(DateTimeOffset? StartedAt, DateTimeOffset? SeenAt, TimeSpan? Age, WorkerReport? Report)> ReadReportAsync(
        NpgsqlConnection conn, string node, CancellationToken ct)
    {
        // Catalog version 3 brought the table; a cluster not re-initialized since simply has no reports. The report's
        // age is measured on the node's own clock, which wrote seen_at.
        await using var cmd = new NpgsqlCommand(
            "SELECT started_at, seen_at, status::text, pg_catalog.clock_timestamp() - seen_at FROM pgmm.worker_status WHERE cluster = $1 AND node = $2", conn);
        cmd.Parameters.Add(new NpgsqlParameter { Value = topology.Options.Cluster });
        cmd.Parameters.Add(new NpgsqlParameter { Value = node });
        try
        {
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            if (!await r.ReadAsync(ct).ConfigureAwait(false)) return (null, null, null, null);
            WorkerReport? report;
            try { report = JsonSerializer.Deserialize<WorkerReport>(r.GetString(2), StatusJson.Options); }
            catch (JsonException) { report = null; } // written by another version: the node's slots still tell
            return (Utc(r.GetDateTime(0)), Utc(r.GetDateTime(1)), r.GetTimeSpan(3), report);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            return (null, null, null, null);
        }
    }

    private static async Task<(long?, long?)> ReadCountsAsync(NpgsqlConnection conn, CancellationToken ct)
    {
        return await conn.QuerySingleAsync<(long?, long?)>(new CommandDefinition(
            "SELECT (SELECT pg_catalog.count(*) FROM pgmm.dead_letter), (SELECT n_live_tup FROM pg_stat_user_tables WHERE relid = 'pgmm.tombstone'::regclass)",
            cancellationToken: ct)).ConfigureAwait(false);
    }

    private static async Task<List<ConflictView>> ReadConflictsAsync(NpgsqlConnection conn, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(
            $"""
            SELECT id, logged_at, table_name, conflict_type, remote_origin, key::text, local_row::text, remote_row::text, kept_row::text, rule, resolution
            FROM pgmm.conflict_log ORDER BY id DESC LIMIT {Recent}
            """, conn);
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        var list = new List<ConflictView>();
        while (await r.ReadAsync(ct).ConfigureAwait(false))
            list.Add(new ConflictView(r.GetInt64(0), Utc(r.GetDateTime(1)), r.GetString(2), r.GetString(3), r.GetString(4),
                Json(r, 5), Json(r, 6), Json(r, 7), Json(r, 8), r.GetString(9), r.GetString(10)));
        return list;
    }

    private static async Task<List<DeadLetterView>> ReadDeadLettersAsync(NpgsqlConnection conn, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(
            $"""
            SELECT id, parked_at, source_node, table_name, operation, key::text, coalesce(new_row, old_row)::text, conflict_type, reason, attempts, last_error
            FROM pgmm.dead_letter ORDER BY id DESC LIMIT {Recent}
            """, conn);
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        var list = new List<DeadLetterView>();
        while (await r.ReadAsync(ct).ConfigureAwait(false))
            list.Add(new DeadLetterView(r.GetInt64(0), Utc(r.GetDateTime(1)), r.GetString(2), r.GetString(3), r.GetString(4),
                Json(r, 5), Json(r, 6), r.IsDBNull(7) ? null : r.GetString(7), r.GetString(8), r.GetInt32(9), r.IsDBNull(10) ? null : r.GetString(10)));
        return list;
    }

    private static JsonElement? Json(NpgsqlDataReader r, int i) =>
        r.IsDBNull(i) ? null : JsonDocument.Parse(r.GetString(i)).RootElement.Clone();

    private static DateTimeOffset Utc(DateTime d) => new(DateTime.SpecifyKind(d, DateTimeKind.Utc));
}
