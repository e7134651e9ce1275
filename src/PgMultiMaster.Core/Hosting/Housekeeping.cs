using Microsoft.Extensions.Logging;
using Npgsql;
using NpgsqlTypes;
using PgMultiMaster.Diagnostics;
using PgMultiMaster.Sql;
using PgMultiMaster.Topology;

namespace PgMultiMaster.Hosting;

/// <summary>
/// Keeps the node's pgmm tables bounded: trims the conflict log to its retention, and removes tombstones once no
/// change older than them can still arrive — when every peer's link to this node has confirmed a WAL position the
/// peer had reached at a time later than the tombstone (its watermark).
/// </summary>
internal sealed class Housekeeping(ClusterTopology topology, string node, ILogger logger, TimeProvider time)
{
    // Per peer: a (peer clock, peer WAL position) sample waiting for the peer's link to this node to pass it.
    private readonly Dictionary<string, (DateTime At, ulong Lsn)> _samples = [];
    private readonly Dictionary<string, DateTime> _watermarks = [];

    public async Task RunAsync(CancellationToken ct)
    {
        var interval = topology.Options.Conflicts.HousekeepingInterval;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await RunOnceAsync(ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException)
            {
                Log.HousekeepingFailed(logger, node, e.Message);
            }
            await Task.Delay(interval, time, ct).ConfigureAwait(false);
        }
    }

    public async Task RunOnceAsync(CancellationToken ct)
    {
        foreach (var peer in topology.Options.Nodes.Where(n => n.Name != node))
            await SamplePeerAsync(peer, ct).ConfigureAwait(false);

        await using var conn = await ConnectionStrings.OpenAdminAsync(topology.NodeNamed(node).ConnectionString, "pgmm housekeeping", ct).ConfigureAwait(false);
        await using (var trim = new NpgsqlCommand("DELETE FROM pgmm.conflict_log WHERE logged_at < pg_catalog.clock_timestamp() - $1::interval", conn))
        {
            trim.Parameters.Add(new NpgsqlParameter { Value = topology.Options.Conflicts.LogRetention });
            await trim.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }

        await using (var mark = new NpgsqlCommand("UPDATE pgmm.node SET last_housekeeping = pg_catalog.clock_timestamp() WHERE cluster = $1", conn))
        {
            mark.Parameters.Add(new NpgsqlParameter { Value = topology.Options.Cluster });
            await mark.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }

        if (_watermarks.Count < topology.Options.Nodes.Count - 1) return; // some peer not known to be past anything yet
        // Margin for clock skew between the peers whose timestamps are compared.
        var safe = _watermarks.Values.Min() - topology.Options.Conflicts.MaxClockSkew;
        await using var clean = new NpgsqlCommand(
            "DELETE FROM pgmm.tombstone tb WHERE (SELECT o.\"timestamp\" FROM pg_catalog.pg_xact_commit_timestamp_origin(tb.xmin) o) < $1", conn);
        clean.Parameters.Add(new NpgsqlParameter { Value = safe, NpgsqlDbType = NpgsqlDbType.TimestampTz });
        var removed = await clean.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        if (removed > 0) Log.TombstonesRemoved(logger, node, removed, safe);
    }

    private async Task SamplePeerAsync(Configuration.NodeOptions peer, CancellationToken ct)
    {
        try
        {
            await using var conn = await ConnectionStrings.OpenAdminAsync(peer.ConnectionString, "pgmm housekeeping", ct).ConfigureAwait(false);
            await using var cmd = new NpgsqlCommand(
                "SELECT pg_catalog.clock_timestamp(), pg_catalog.pg_current_wal_lsn(), (SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = $1)", conn);
            cmd.Parameters.Add(new NpgsqlParameter { Value = topology.SlotName(peer.Name, node) });
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await r.ReadAsync(ct).ConfigureAwait(false);
            var now = r.GetDateTime(0);
            var lsn = (ulong)r.GetFieldValue<NpgsqlLogSequenceNumber>(1);
            var confirmed = r.IsDBNull(2) ? 0 : (ulong)r.GetFieldValue<NpgsqlLogSequenceNumber>(2);
            // Everything the peer committed before an earlier sample's time is applied here once its link passed that sample.
            if (_samples.TryGetValue(peer.Name, out var sample) && confirmed >= sample.Lsn)
                _watermarks[peer.Name] = sample.At;
            if (!_samples.ContainsKey(peer.Name) || confirmed >= sample.Lsn)
                _samples[peer.Name] = (now, lsn);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            // A peer that cannot be reached keeps its old watermark: tombstones wait for it.
        }
    }
}
