using System.Text.Json;
using Microsoft.Extensions.Logging;
using Npgsql;
using NpgsqlTypes;
using PgMultiMaster.Diagnostics;
using PgMultiMaster.Progress;
using PgMultiMaster.Replication;
using PgMultiMaster.Sql;
using PgMultiMaster.Topology;

namespace PgMultiMaster.Monitoring;

/// <summary>
/// Measures the worker's links from the source side every <c>Monitoring:PollInterval</c> — WAL not yet confirmed,
/// WAL retained by each slot, lag in time — counts the node's dead letters and tombstones, keeps a short history
/// for the dashboard, and publishes the worker's report to <c>pgmm.worker_status</c> on its node.
/// </summary>
public sealed class StatusMonitor(ClusterTopology topology, string node, IReadOnlyList<LinkRunner> links, ILogger logger, TimeProvider time)
{
    private static readonly TimeSpan HistoryStep = TimeSpan.FromSeconds(5);
    private const int HistoryLength = 120; // 10 minutes

    private readonly Queue<HistoryPoint> _history = new();
    private readonly Lock _lock = new();
    // Per link: (source WAL end, when) samples the link has not confirmed yet, oldest first.
    private readonly Dictionary<string, Queue<(ulong Lsn, DateTimeOffset At)>> _unconfirmed = links.ToDictionary(l => l.Status.Name, _ => new Queue<(ulong, DateTimeOffset)>());
    private bool _warnedNoTable;

    /// <summary>The node whose links this monitor measures.</summary>
    public string Node => node;

    public ClusterTopology Topology => topology;

    /// <summary>The status of each of the node's links, as the links write it.</summary>
    public IReadOnlyList<LinkStatus> LinkStatuses { get; } = [.. links.Select(l => l.Status)];

    public DateTimeOffset StartedAt { get; } = time.GetUtcNow();
    public long? DeadLetters { get; private set; }
    public long? Tombstones { get; private set; }

    public IReadOnlyList<HistoryPoint> History { get { lock (_lock) return _history.ToList(); } }

    public IReadOnlyList<LinkView> Links() => links.Select(l => View(l.Status)).ToList();

    public static LinkView View(LinkStatus s)
    {
        var state = s.State; // read once: it changes under our feet
        return new(s.Source, s.Target, LinkStatus.NameOf(state), s.LagBytes, s.Lag?.TotalSeconds, s.WalRetainedBytes, s.ClockSkew.TotalSeconds,
            s.ConfirmedLsn == 0 ? null : new NpgsqlLogSequenceNumber(s.ConfirmedLsn).ToString(),
            s.TransactionsApplied, s.RowsApplied, s.Conflicts, s.Parked, s.Retries, s.Problem(state), s.LastErrorAt);
    }

    public async Task RunAsync(CancellationToken ct)
    {
        NpgsqlConnection? conn = null;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                try
                {
                    conn ??= await ConnectionStrings.OpenAdminAsync(topology.NodeNamed(node).ConnectionString, "pgmm monitor", ct).ConfigureAwait(false);
                    await PollOnceAsync(conn, ct).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
                {
                    // Status must never stop replication, nor stop for good: try again at the next poll. What it
                    // measured is unknown meanwhile, not stale.
                    if (e is NpgsqlException or TimeoutException or System.Net.Sockets.SocketException)
                        Log.StatusPollFailed(logger, node, e.Message);
                    else
                        Log.StatusPollFailedUnexpectedly(logger, node, e);
                    foreach (var l in links) l.Status.Measured = LinkMeasurement.Unknown;
                    (DeadLetters, Tombstones) = (null, null);
                    if (conn is not null) await conn.DisposeAsync().ConfigureAwait(false);
                    conn = null;
                }
                await Task.Delay(topology.Options.Monitoring.PollInterval, time, ct).ConfigureAwait(false);
            }
        }
        finally
        {
            if (conn is not null) await conn.DisposeAsync().ConfigureAwait(false);
        }
    }

    private async Task PollOnceAsync(NpgsqlConnection conn, CancellationToken ct)
    {
        var slots = links.ToDictionary(l => topology.SlotName(l.Status.Source, l.Status.Target), l => l.Status);
        // A slot dropped or invalidated is lost whatever the link is doing: seen here even while the link cannot get
        // as far as its own check (its target is down, say).
        var facts = await SlotRecord.ReadAsync(conn, slots.Keys, ct).ConfigureAwait(false);
        var lost = links.ToDictionary(l => l.Status, l => facts.TryGetValue(l.Link.SlotName, out var slot) ? ResumeCheck.Lost(l.Link, slot) : null);
        await using (var cmd = new NpgsqlCommand(
            """
            SELECT pg_catalog.pg_current_wal_lsn(), s.slot_name, s.confirmed_flush_lsn, s.restart_lsn,
                   (SELECT pg_catalog.count(*) FROM pgmm.dead_letter),
                   -- The statistics' estimate: counting a large tombstone table every poll would cost a full scan.
                   (SELECT n_live_tup FROM pg_stat_user_tables WHERE relid = 'pgmm.tombstone'::regclass)
            FROM (SELECT 1) one LEFT JOIN pg_replication_slots s ON s.slot_name = ANY($1)
            """, conn))
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = slots.Keys.ToArray() });
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            var now = time.GetUtcNow();
            var seen = new HashSet<LinkStatus>();
            while (await r.ReadAsync(ct).ConfigureAwait(false))
            {
                DeadLetters = r.GetInt64(4);
                Tombstones = r.IsDBNull(5) ? null : r.GetInt64(5);
                if (r.IsDBNull(1)) continue;
                var end = (ulong)r.GetFieldValue<NpgsqlLogSequenceNumber>(0);
                var status = slots[r.GetString(1)];
                seen.Add(status);
                var confirmed = Math.Max(status.ConfirmedLsn, r.IsDBNull(2) ? 0 : (ulong)r.GetFieldValue<NpgsqlLogSequenceNumber>(2));
                status.Measured = new LinkMeasurement(
                    end > confirmed ? (long)(end - confirmed) : 0,
                    LagOf(status, end, confirmed, now),
                    r.IsDBNull(3) ? null : (long)(end - Math.Min(end, (ulong)r.GetFieldValue<NpgsqlLogSequenceNumber>(3))), lost[status]);
            }
            // A link whose slot is gone has no lag to report.
            foreach (var l in links.Where(l => !seen.Contains(l.Status)))
            {
                l.Status.Measured = LinkMeasurement.Unknown with { SlotLost = lost[l.Status] };
                _unconfirmed[l.Status.Name].Clear();
            }
        }

        var totals = new HistoryPoint(time.GetUtcNow(), links.Sum(l => l.Status.TransactionsApplied), links.Sum(l => l.Status.RowsApplied), links.Sum(l => l.Status.Conflicts));
        lock (_lock)
        {
            if (_history.Count == 0 || totals.At - _history.Last().At >= HistoryStep)
            {
                _history.Enqueue(totals);
                while (_history.Count > HistoryLength) _history.Dequeue();
            }
        }
        await PublishAsync(conn, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// How far behind a link is in time. A link that confirmed everything the source had at the previous poll is
    /// keeping up: its lag is the commit-to-commit delay of its last transaction (0 once idle). Otherwise the lag is
    /// the age of the oldest poll whose WAL it has not confirmed — it grows while the link is stuck.
    /// </summary>
    private TimeSpan LagOf(LinkStatus status, ulong end, ulong confirmed, DateTimeOffset now)
    {
        var samples = _unconfirmed[status.Name];
        while (samples.TryPeek(out var s) && s.Lsn <= confirmed) samples.Dequeue();
        var behind = samples.TryPeek(out var oldest) ? now - oldest.At : TimeSpan.Zero;
        if (end > confirmed) samples.Enqueue((end, now));
        if (behind > TimeSpan.Zero) return behind;
        var last = status.LastApplied;
        var recent = last is not null && now - last.At < topology.Options.Monitoring.PollInterval * 2;
        return recent ? TimeSpan.FromTicks(Math.Max(0, last!.Delay.Ticks)) : TimeSpan.Zero;
    }

    private async Task PublishAsync(NpgsqlConnection conn, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(
            """
            INSERT INTO pgmm.worker_status (cluster, node, started_at, seen_at, status) VALUES ($1, $2, $3, pg_catalog.clock_timestamp(), $4::jsonb)
            ON CONFLICT (cluster, node) DO UPDATE SET started_at = excluded.started_at, seen_at = excluded.seen_at, status = excluded.status
            """, conn);
        cmd.Parameters.Add(new NpgsqlParameter { Value = topology.Options.Cluster });
        cmd.Parameters.Add(new NpgsqlParameter { Value = node });
        cmd.Parameters.Add(new NpgsqlParameter { Value = StartedAt });
        cmd.Parameters.Add(new NpgsqlParameter { Value = JsonSerializer.Serialize(new WorkerReport(Links(), History), StatusJson.Options) });
        try
        {
            await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            if (!_warnedNoTable) Log.NoWorkerStatusTable(logger, node);
            _warnedNoTable = true;
        }
    }
}
