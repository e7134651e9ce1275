using System.Collections.ObjectModel;
using Npgsql;
using PgMultiMaster.Decoding;
using PgMultiMaster.Failures;

namespace PgMultiMaster.Apply;

/// <summary>
/// Sends queued transactions (<see cref="TransactionQueue"/>) in one pipeline, each its own target transaction: one round
/// trip for many. A conflict or error in one of them rolls back only that one: those before it are committed, it goes
/// through the conflict path alone, and the rest are sent again.
/// </summary>
internal sealed class QueueSender(TransactionQueue queue, TargetTransaction tx, ChangeSender sender, ApplyContext ctx)
{
    public async Task FlushAsync(CancellationToken ct)
    {
        if (queue.Count == 0) return;
        // The transaction being received keeps its own place while the queued ones are sent.
        var (ts, lsn) = (ctx.CommitTimestamp, ctx.CommitLsn);
        try
        {
            while (queue.Count > 0)
            {
                var sending = queue.NextSend;
                await using var batch = new NpgsqlBatch(tx.Connection);
                for (var i = 0; i < sending; i++) AddTransaction(batch, queue[i]);
                WalPositions.AddQuery(batch);
                try
                {
                    await tx.ExecuteCommitAsync(batch, ct).ConfigureAwait(false);
                    for (var i = 0; i < sending; i++) Done(queue[i]);
                    queue.SentCleanly(sending);
                }
                catch (PostgresException e) when (FailureClassifier.IsConflictSignal(e) || FailureClassifier.IsDataError(e))
                {
                    // All of them committed: nothing queued to blame; reconnect and resume after them.
                    if (!await SendAfterFailureAsync(sending, e, ct).ConfigureAwait(false)) throw;
                }
            }
        }
        finally
        {
            queue.Clear();
            (ctx.CommitTimestamp, ctx.CommitLsn) = (ts, lsn);
        }
    }

    /// <summary>
    /// One of the first <paramref name="sending"/> queued transactions failed with <paramref name="e"/>: the ones before
    /// it are done, it goes alone through the conflict path (or to a careful replay), and the rest stay queued.
    /// False when all of them committed, so none is to blame.
    /// </summary>
    private async Task<bool> SendAfterFailureAsync(int sending, PostgresException e, CancellationToken ct)
    {
        // Npgsql drops the connection on some errors (XX: internal, also raised by functions): which of the
        // transactions failed cannot be asked then; all of them are sent again change by change.
        if (!tx.IsOpen) throw new ApplyDataException(queue[0].Begin.FinalLsn, queue[sending - 1].Begin.FinalLsn, e);
        await tx.ExecAsync("ROLLBACK", ct).ConfigureAwait(false);
        // Which of them committed: exactly those the origin's progress has passed.
        ulong progress;
        await using (var position = new NpgsqlCommand("SELECT pg_catalog.pg_replication_origin_session_progress(false), pg_catalog.pg_current_wal_insert_lsn()", tx.Connection))
        await using (var r = await position.ExecuteReaderAsync(ct).ConfigureAwait(false))
        {
            await r.ReadAsync(ct).ConfigureAwait(false);
            progress = r.IsDBNull(0) ? 0 : (ulong)r.GetFieldValue<NpgsqlTypes.NpgsqlLogSequenceNumber>(0);
            tx.Positions.LastCommitLsn = (ulong)r.GetFieldValue<NpgsqlTypes.NpgsqlLogSequenceNumber>(1);
        }
        var failed = -1;
        for (var i = 0; i < sending && failed < 0; i++)
            if (queue[i].Commit.EndLsn > progress) failed = i;
        if (failed < 0)
        {
            for (var i = 0; i < sending; i++) Done(queue[i]);
            return false;
        }
        for (var i = 0; i < failed; i++) Done(queue[i]);
        var culprit = queue.Failed(failed);
        if (!FailureClassifier.IsConflictSignal(e))
            throw new ApplyDataException(culprit.Begin.FinalLsn, culprit.Begin.FinalLsn, e);
        // The conflict path, alone: halts, slow-path resolution and the commit.
        Start(culprit.Begin);
        try
        {
            await sender.SendAsync(culprit.Items, ApplyMode.Guarded, optimistic: false, ReadOnlyDictionary<int, string>.Empty, ct).ConfigureAwait(false);
            await using var commit = new NpgsqlBatch(tx.Connection);
            TargetTransaction.AddCommit(commit, culprit.Commit, ctx.OriginName);
            await tx.ExecuteCommitAsync(commit, ct).ConfigureAwait(false);
        }
        catch (PostgresException inner) when (FailureClassifier.IsDataError(inner))
        {
            throw new ApplyDataException(culprit.Begin.FinalLsn, culprit.Begin.FinalLsn, inner);
        }
        tx.Begun = false;
        tx.Tally.ClearRows(); // its rows are counted from its items
        Done(culprit);
        return true;
    }

    /// <summary>
    /// A queued transaction: BEGIN, its statements, the origin's progress and COMMIT. A single-row transaction's change
    /// carries the progress itself (<see cref="ChangeStatements.CommitCheck"/>): three statements, not four.
    /// </summary>
    private void AddTransaction(NpgsqlBatch batch, QueuedTransaction q)
    {
        Start(q.Begin);
        batch.BatchCommands.Add(new NpgsqlBatchCommand("BEGIN"));
        var end = new ChangeStatements.CommitCheck(q.Commit.EndLsn, q.Commit.CommitTimestamp, ctx.OriginName);
        var segments = sender.Segments(q.Items);
        foreach (var segment in segments.SkipLast(1)) batch.BatchCommands.Add(sender.Command(segment, q.Items, whole: true));
        var last = segments[^1];
        var defers = sender.DefersChecks(q.Items);
        if (last.Count == 1 && !q.Items[last.Start].IsParked && !defers)
            batch.BatchCommands.Add(sender.GuardedCommitting(q.Items[last.Start].Change, end));
        else
        {
            batch.BatchCommands.Add(sender.Command(last, q.Items, whole: true));
            if (defers) batch.BatchCommands.Add(ChangeStatements.CheckDeferred());
            batch.BatchCommands.Add(ChangeStatements.Commit(end));
        }
        batch.BatchCommands.Add(new NpgsqlBatchCommand("COMMIT"));
    }

    // Statements carry the commit timestamp and LSN of the transaction they belong to.
    private void Start(TransactionBegin begin) => (ctx.CommitTimestamp, ctx.CommitLsn) = (begin.CommitTimestamp, begin.FinalLsn);

    private void Done(QueuedTransaction q)
    {
        tx.Counters.AddRows(q.Items);
        tx.Counters.AddRows(tx.Tally); // conflicts resolved for it on the slow path (its rows are counted from its items)
        tx.Applied(q.Commit);
        q.OnCommitted(tx.Positions.LastCommitLsn);
    }
}
