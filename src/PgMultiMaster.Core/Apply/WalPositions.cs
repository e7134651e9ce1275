using Npgsql;
using NpgsqlTypes;

namespace PgMultiMaster.Apply;

/// <summary>
/// Where the target's WAL stands, as its commits report it: the slot on the source is confirmed only past what the target
/// has flushed (FeedbackGate), so each commit batch ends by asking.
/// </summary>
internal sealed class WalPositions
{
    /// <summary>Target WAL position just after the last commit (its commit record ends before it).</summary>
    public ulong LastCommitLsn { get; set; }

    /// <summary>How far the target has flushed its WAL, as last seen.</summary>
    public ulong TargetFlushed { get; private set; }

    /// <summary>Ends a batch with the positions query (<see cref="ReadAsync"/> finds its result).</summary>
    public static void AddQuery(NpgsqlBatch batch) =>
        batch.BatchCommands.Add(new NpgsqlBatchCommand("SELECT pg_catalog.pg_current_wal_insert_lsn(), pg_catalog.pg_current_wal_flush_lsn()"));

    /// <summary>Reads through every result of the batch; the positions query's is the one of two pg_lsn columns.</summary>
    public async Task ReadAsync(NpgsqlDataReader reader, CancellationToken ct)
    {
        do
        {
            if (reader.FieldCount == 2 && reader.GetDataTypeName(0) == "pg_lsn" && await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                LastCommitLsn = (ulong)reader.GetFieldValue<NpgsqlLogSequenceNumber>(0);
                TargetFlushed = (ulong)reader.GetFieldValue<NpgsqlLogSequenceNumber>(1);
            }
        } while (await reader.NextResultAsync(ct).ConfigureAwait(false));
    }

    /// <summary>Asks the target how far its WAL is flushed (between transactions).</summary>
    public async Task<ulong> RefreshFlushedAsync(NpgsqlConnection conn, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("SELECT pg_catalog.pg_current_wal_flush_lsn()", conn);
        TargetFlushed = (ulong)(NpgsqlLogSequenceNumber)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
        return TargetFlushed;
    }
}
