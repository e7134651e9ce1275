using Npgsql;
using NpgsqlTypes;
using PgMultiMaster.Sql;
using PgMultiMaster.Topology;

namespace PgMultiMaster.Diagnostics;

/// <summary>Waits until every link has applied and confirmed all that its source had written when the wait began.</summary>
public static class CatchUp
{
    public static async Task WaitAsync(ClusterTopology topology, TimeSpan timeout, CancellationToken ct)
    {
        var targets = new Dictionary<string, ulong>();
        foreach (var node in topology.Options.Nodes)
        {
            await using var conn = await OpenAsync(node.ConnectionString, ct).ConfigureAwait(false);
            await using var cmd = new NpgsqlCommand("SELECT pg_current_wal_lsn()", conn);
            targets[node.Name] = (ulong)(NpgsqlLogSequenceNumber)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
        }

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var behind = new List<string>();
        while (true)
        {
            behind.Clear();
            foreach (var link in topology.AllLinks())
            {
                var confirmed = await ConfirmedAsync(link, ct).ConfigureAwait(false);
                if (confirmed < targets[link.Source.Name])
                    behind.Add($"{link} at {new NpgsqlLogSequenceNumber(confirmed)} (needs {new NpgsqlLogSequenceNumber(targets[link.Source.Name])})");
            }
            if (behind.Count == 0) return;
            if (clock.Elapsed > timeout)
                throw new TimeoutException($"links did not catch up within {timeout}: {string.Join("; ", behind)}");
            await Task.Delay(100, ct).ConfigureAwait(false);
        }
    }

    /// <summary>The slot's confirmed position (0 if the slot or server is unavailable).</summary>
    public static async Task<ulong> ConfirmedAsync(Link link, CancellationToken ct)
    {
        try
        {
            await using var conn = await OpenAsync(link.Source.ConnectionString, ct).ConfigureAwait(false);
            await using var cmd = new NpgsqlCommand("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = $1", conn);
            cmd.Parameters.Add(new NpgsqlParameter { Value = link.SlotName });
            return await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false) is NpgsqlLogSequenceNumber lsn ? (ulong)lsn : 0;
        }
        catch (NpgsqlException)
        {
            return 0;
        }
    }

    private static async Task<NpgsqlConnection> OpenAsync(string cs, CancellationToken ct)
    {
        var conn = new NpgsqlConnection(ConnectionStrings.ForAdmin(cs, "pgmm catch-up"));
        await conn.OpenAsync(ct).ConfigureAwait(false);
        return conn;
    }
}
