using Npgsql;
using NpgsqlTypes;
using PgMultiMaster.Sql;
using PgMultiMaster.Topology;

namespace PgMultiMaster.Diagnostics;

/// <summary>Waits until every link has applied and confirmed all that its source had written when the wait began.</summary>
public static class CatchUp
{
    public static async Task WaitAsync(ClusterTopology topology, TimeSpan timeout, CancellationToken ct, TimeProvider? time = null)
    {
        time ??= TimeProvider.System;
        var targets = new Dictionary<string, ulong>();
        foreach (var node in topology.Options.Nodes)
        {
            await using var conn = await ConnectionStrings.OpenAdminAsync(node.ConnectionString, "pgmm catch-up", ct).ConfigureAwait(false);
            await using var cmd = new NpgsqlCommand("SELECT pg_catalog.pg_current_wal_lsn()", conn);
            targets[node.Name] = (ulong)(NpgsqlLogSequenceNumber)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
        }

        var started = time.GetTimestamp();
        var behind = new List<string>();
        while (true)
        {
            behind.Clear();
            foreach (var node in topology.Options.Nodes)
            {
                var links = topology.LinksFrom(node.Name);
                var confirmed = await ConfirmedAsync(node.ConnectionString, links.Select(l => l.SlotName).ToArray(), ct).ConfigureAwait(false);
                foreach (var link in links.Where(l => confirmed.GetValueOrDefault(l.SlotName) < targets[node.Name]))
                    behind.Add($"{link} at {new NpgsqlLogSequenceNumber(confirmed.GetValueOrDefault(link.SlotName))} (needs {new NpgsqlLogSequenceNumber(targets[node.Name])})");
            }
            if (behind.Count == 0) return;
            if (time.GetElapsedTime(started) > timeout)
                throw new TimeoutException($"links did not catch up within {timeout}: {string.Join("; ", behind)}");
            await Task.Delay(TimeSpan.FromMilliseconds(100), time, ct).ConfigureAwait(false);
        }
    }

    /// <summary>The confirmed position of each named slot on one node (none while the node is unavailable).</summary>
    private static async Task<Dictionary<string, ulong>> ConfirmedAsync(string connectionString, string[] slots, CancellationToken ct)
    {
        var confirmed = new Dictionary<string, ulong>();
        try
        {
            await using var conn = await ConnectionStrings.OpenAdminAsync(connectionString, "pgmm catch-up", ct).ConfigureAwait(false);
            await using var cmd = new NpgsqlCommand(
                "SELECT slot_name::text, confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = ANY($1) AND confirmed_flush_lsn IS NOT NULL", conn);
            cmd.Parameters.Add(new NpgsqlParameter { Value = slots });
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false))
                confirmed[r.GetString(0)] = (ulong)r.GetFieldValue<NpgsqlLogSequenceNumber>(1);
        }
        catch (NpgsqlException)
        {
            // A node that is down has confirmed nothing as far as this wait is concerned.
        }
        return confirmed;
    }
}
