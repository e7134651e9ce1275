namespace PgMultiMaster.Progress;

/// <summary>
/// The one place that confirms the source slot. Positions are kept apart: what was received, what is applied on the
/// target, what is durable there, and what the source has recorded. The target commits asynchronously (as PostgreSQL's
/// own apply worker does), so a source transaction is confirmed only once the target has flushed WAL past its commit: a
/// target crash loses nothing the source has let go of. Between transactions, with everything applied durable, the
/// received position is confirmed from a timer — otherwise the slot would hold WAL while only unreplicated tables
/// change. And the slot passes an applied transaction only once the source has recorded it (<see cref="SlotRecord"/>),
/// so a target that later loses it (restored from a backup) is told from one that never had it (ADR 0013).
/// </summary>
internal sealed class FeedbackGate : IDisposable
{
    private readonly Action<ulong> _confirm;
    private readonly Func<ulong> _received;
    private readonly Func<int> _unhandled;
    private readonly ITimer _timer;
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
    // Everything up to _handled is durable on the target or needed nothing there. _applied: the end of the last
    // transaction within it that the target applied. _recorded: how far the source's record lets the slot pass applied
    // transactions.
    private ulong _handled;
    private ulong _applied;
    private ulong _recorded;

    /// <param name="interval">How often the idle position is confirmed.</param>
    /// <param name="confirmed">The slot's confirmed position when the link started: nothing at or below it is sent.</param>
    /// <param name="applied">The target's progress when the link started: applied, and durable there.</param>
    /// <param name="recorded">The source's record when the link started.</param>
    /// <param name="confirm">Tells the source the slot may pass this position.</param>
    /// <param name="received">The last position received from the source.</param>
    /// <param name="unhandled">How many received events the apply side has not handled yet (they are received ahead of it).</param>
    /// <param name="time">The clock whose timer runs the idle confirmation (the system's when omitted).</param>
    public FeedbackGate(TimeSpan interval, ulong confirmed, ulong applied, ulong recorded, Action<ulong> confirm, Func<ulong> received, Func<int> unhandled,
        TimeProvider? time = null)
    {
        _confirm = confirm;
        _received = received;
        _unhandled = unhandled;
        _confirmed = confirmed;
        _applied = applied;
        _recorded = recorded;
        _timer = (time ?? TimeProvider.System).CreateTimer(_ => ConfirmIdle(), null, interval, interval);
    }

    public ulong Confirmed { get { lock (_lock) return _confirmed; } }

    /// <summary>Applied transactions whose commit the target has not flushed yet.</summary>
    public bool AwaitingFlush { get { lock (_lock) return _waiting.Count > 0; } }

    /// <summary>
    /// The end of the last applied transaction that is durable on the target and not yet recorded on the source, or
    /// null: record it (<see cref="SlotRecord.RecordAsync"/>), then report <see cref="Recorded"/>, and the slot moves on.
    /// </summary>
    public ulong? Unrecorded { get { lock (_lock) return _applied > _recorded ? _applied : null; } }

    public void Recorded(ulong applied)
    {
        lock (_lock)
        {
            if (applied > _recorded) _recorded = applied;
            Advance();
        }
    }

    public void TransactionStarted()
    {
        lock (_lock) _inTransaction = true;
    }

    /// <summary>
    /// The transaction ending at <paramref name="sourceEnd"/> is committed on the target at <paramref name="targetLsn"/>
    /// (0 when it needed nothing written there: skipped as echo or as applied before, or empty).
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

    // Takes, in order, every transaction whose commit is durable on the target (or that needed none).
    private void Release()
    {
        while (_waiting.TryPeek(out var next) && next.TargetLsn <= _targetFlushed)
        {
            _waiting.Dequeue();
            _handled = Math.Max(_handled, next.SourceEnd);
            if (next.TargetLsn != 0) _applied = Math.Max(_applied, next.SourceEnd);
        }
        Advance();
    }

    /// <summary>Confirms what the timer does at each interval.</summary>
    internal void ConfirmIdle()
    {
        lock (_lock)
        {
            // Events are received ahead of the apply side: only with none waiting is everything received handled.
            // Npgsql raises LastReceivedLsn when a message arrives, before the receiver has handed it on. That is
            // safe: the receiver holds at most that one message, and between transactions it is a Begin (or a
            // message before one), whose position is before its transaction's commit, so the transaction is still
            // sent again after a restart; keepalives carry the walsender's sent position.
            if (_inTransaction || _waiting.Count > 0 || _unhandled() > 0) return;
            _handled = Math.Max(_handled, _received());
            Advance();
        }
    }

    // Past an applied transaction the source has not recorded yet, the slot waits at the last one it has recorded
    // (everything before that is handled too).
    private void Advance()
    {
        var lsn = _applied <= _recorded ? _handled : _recorded;
        if (lsn <= _confirmed) return;
        _confirmed = lsn;
        _confirm(lsn);
    }

    public void Dispose() => _timer.Dispose();
}
