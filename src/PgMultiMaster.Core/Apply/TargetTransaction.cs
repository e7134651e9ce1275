using Npgsql;
using PgMultiMaster.Decoding;
using PgMultiMaster.Sql;

namespace PgMultiMaster.Apply;

/// <summary>
/// The target transaction being written on the apply session: whether it has begun, what it has sent so far (counted
/// only if it commits), and its commit, which carries the replication origin's progress so a restart resumes exactly
/// after the last applied transaction.
/// </summary>
internal sealed class TargetTransaction(NpgsqlConnection conn, ConnectionWatchdog watchdog, LinkCounters counters, TimeProvider time)
{
    public NpgsqlConnection Connection => conn;

    /// <summary>A BEGIN has been sent: the next statements join the open transaction.</summary>
    public bool Begun { get; set; }

    /// <summary>What the open transaction has sent and resolved.</summary>
    public RowTally Tally { get; } = new();

    /// <summary>Totals kept across reconnects.</summary>
    public LinkCounters Counters => counters;

    public WalPositions Positions { get; } = new();

    /// <summary>End LSN of the last source transaction committed here (the origin's progress).</summary>
    public ulong Progress { get; set; }

    public bool IsOpen => conn.FullState == System.Data.ConnectionState.Open;

    public void AddBegin(NpgsqlBatch batch)
    {
        if (Begun) return;
        batch.BatchCommands.Add(new NpgsqlBatchCommand("BEGIN"));
    }

    /// <summary>The deferred checks, the origin's progress check and COMMIT, then the positions query.</summary>
    public static void AddCommit(NpgsqlBatch batch, TransactionCommit commit, string origin)
    {
        batch.BatchCommands.Add(ChangeStatements.CheckDeferred());
        batch.BatchCommands.Add(ChangeStatements.Commit(new ChangeStatements.CommitCheck(commit.EndLsn, commit.CommitTimestamp, origin)));
        batch.BatchCommands.Add(new NpgsqlBatchCommand("COMMIT"));
        WalPositions.AddQuery(batch);
    }

    // The commit batch ends with the positions query; every statement before it that returns rows is read past.
    public async Task ExecuteCommitAsync(NpgsqlBatch batch, CancellationToken ct)
    {
        var started = time.GetTimestamp();
        await using (var reader = await batch.ExecuteReaderAsync(ct).ConfigureAwait(false))
            await Positions.ReadAsync(reader, ct).ConfigureAwait(false);
        counters.RecordApply(time.GetElapsedTime(started));
    }

    /// <summary>The source transaction committed here: the origin's progress and the link's last apply move on.</summary>
    public void Applied(TransactionCommit commit)
    {
        Progress = commit.EndLsn;
        var now = time.GetUtcNow();
        counters.TransactionApplied(new LastApply(now.UtcDateTime - commit.CommitTimestamp, now));
    }

    public Task ExecAsync(string sql, CancellationToken ct) => ExecAsync(conn, sql, ct);

    public static async Task ExecAsync(NpgsqlConnection conn, string sql, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Abandons the open transaction, if any, and forgets what it sent.</summary>
    public async Task RollbackAsync()
    {
        Tally.Clear();
        if (!Begun) return;
        Begun = false;
        if (!IsOpen) return;
        // Not the link's token (it may be stopping), but not for ever either: a silent server is given up.
        try { await ExecAsync("ROLLBACK", watchdog.Lost).ConfigureAwait(false); }
        catch (Exception e) when (e is NpgsqlException or OperationCanceledException) { /* the connection is gone and took the transaction with it */ }
    }
}
