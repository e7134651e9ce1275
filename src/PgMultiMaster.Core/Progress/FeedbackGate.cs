using Npgsql.Replication;
using NpgsqlTypes;

namespace PgMultiMaster.Progress;

/// <summary>
/// The one place that confirms the source slot. Two positions are kept apart: what was received, and what is
/// durably applied. A transaction's end is confirmed only after its target COMMIT; between transactions the
/// link is idle and everything received is done, so the received position is confirmed from a timer — otherwise
/// the slot would hold WAL while only unreplicated tables change (as PostgreSQL's own apply worker does).
/// </summary>
internal sealed class FeedbackGate : IDisposable
{
    private readonly LogicalReplicationConnection _source;
    private readonly Timer _timer;
    private readonly Lock _lock = new();
    private bool _inTransaction;
    private ulong _confirmed;

    public FeedbackGate(LogicalReplicationConnection source, TimeSpan interval, ulong startFrom)
    {
        _source = source;
        _confirmed = startFrom;
        _timer = new Timer(_ => ConfirmIdle(), null, interval, interval);
    }

    public ulong Confirmed { get { lock (_lock) return _confirmed; } }

    public void TransactionStarted()
    {
        lock (_lock) _inTransaction = true;
    }

    /// <summary>The transaction ending at <paramref name="endLsn"/> is committed on the target, or needed nothing.</summary>
    public void TransactionDone(ulong endLsn)
    {
        lock (_lock)
        {
            _inTransaction = false;
            Confirm(endLsn);
        }
    }

    private void ConfirmIdle()
    {
        lock (_lock)
        {
            // Npgsql raises LastReceivedLsn when a message arrives, before the loop sees it. That is safe: a Begin
            // or change message carries a position before its transaction's commit, which is then still sent
            // again after a restart; keepalives carry the walsender's sent position.
            if (!_inTransaction) Confirm((ulong)_source.LastReceivedLsn);
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
