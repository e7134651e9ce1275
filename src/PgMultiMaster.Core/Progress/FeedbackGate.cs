using Npgsql.Replication;
using NpgsqlTypes;

namespace PgMultiMaster.Progress;

/// <summary>
/// The one place that confirms the source slot. Three positions are kept apart: what was received, what is applied
/// on the target, and what is durable there. The target commits asynchronously (as PostgreSQL's own apply worker
/// does), so a source transaction is confirmed only once the target has flushed WAL past its commit: a target crash
/// loses nothing the source has let go of. Between transactions, with everything applied durable, the received
/// position is confirmed from a timer — otherwise the slot would hold WAL while only unreplicated tables change.
/// </summary>
internal sealed class FeedbackGate : IDisposable
{
    private readonly LogicalReplicationConnection _source;
    private readonly Func<int> _unhandled;
    private readonly Timer _timer;
    private readonly Lock _lock = new();
    // Source transactions (end LSN) waiting for the target to commit them (target LSN unknown: ulong.MaxValue)
    // and to flush past their commit.
    private readonly Queue<Entry> _waiting = new();

    private sealed class Entry(ulong sourceEnd, ulong targetLsn)
    {
        public ulong SourceEnd { get; } = sourceEnd;
        public ulong TargetLsn { get; set; } = targetLsn;
    }
    private bool _inTransaction;
    private ulong _confirmed;
    private ulong _targetFlushed;

    /// <param name="unhandled">How many received events the apply side has not handled yet (they are received ahead of it).</param>
    public FeedbackGate(LogicalReplicationConnection source, TimeSpan interval, ulong startFrom, Func<int> unhandled)
    {
        _source = source;
        _unhandled = unhandled;
        _confirmed = startFrom;
        _timer = new Timer(_ => ConfirmIdle(), null, interval, interval);
    }

    public ulong Confirmed { get { lock (_lock) return _confirmed; } }

    /// <summary>Applied transactions whose commit the target has not flushed yet.</summary>
    public bool AwaitingFlush { get { lock (_lock) return _waiting.Count > 0; } }

    public void TransactionStarted()
    {
        lock (_lock) _inTransaction = true;
    }

    /// <summary>
    /// The transaction ending at <paramref name="sourceEnd"/> is committed on the target at <paramref name="targetLsn"/>
    /// (0 when it needed nothing written there: skipped as echo, or empty).
    /// </summary>
    public void TransactionDone(ulong sourceEnd, ulong targetLsn)
    {
        lock (_lock)
        {
            _inTransaction = false;
            _waiting.Enqueue(new Entry(sourceEnd, targetLsn));
            Release();
        }
    }

    /// <summary>
    /// The transaction ending at <paramref name="sourceEnd"/> is queued for a pipelined send: nothing after it is
    /// confirmed until the returned callback reports where the target committed it.
    /// </summary>
    public Action<ulong> TransactionQueued(ulong sourceEnd)
    {
        var entry = new Entry(sourceEnd, ulong.MaxValue);
        lock (_lock)
        {
            _inTransaction = false;
            _waiting.Enqueue(entry);
        }
        return targetLsn =>
        {
            lock (_lock) entry.TargetLsn = targetLsn;
        };
    }

    /// <summary>The target has flushed its WAL up to <paramref name="flushed"/>.</summary>
    public void TargetFlushed(ulong flushed)
    {
        lock (_lock)
        {
            if (flushed > _targetFlushed) _targetFlushed = flushed;
            Release();
        }
    }

    // Confirms, in order, every transaction whose commit is durable on the target.
    private void Release()
    {
        while (_waiting.TryPeek(out var next) && next.TargetLsn <= _targetFlushed)
        {
            _waiting.Dequeue();
            Confirm(next.SourceEnd);
        }
    }

    private void ConfirmIdle()
    {
        lock (_lock)
        {
            // Events are received ahead of the apply side: only with none waiting is everything received handled.
            // Npgsql raises LastReceivedLsn when a message arrives, before the receiver has handed it on. That is
            // safe: the receiver holds at most that one message, and between transactions it is a Begin (or a
            // message before one), whose position is before its transaction's commit, so the transaction is still
            // sent again after a restart; keepalives carry the walsender's sent position.
            if (!_inTransaction && _waiting.Count == 0 && _unhandled() == 0) Confirm((ulong)_source.LastReceivedLsn);
        }
    }

    private void Confirm(ulong lsn)
    {
        if (lsn <= _confirmed) return;
        _confirmed = lsn;
        _source.SetReplicationStatus(new NpgsqlLogSequenceNumber(lsn));
    }

    public void Dispose() => _timer.Dispose();
}
