using Npgsql;
using NpgsqlTypes;
using PgMultiMaster.Apply;
using PgMultiMaster.Diagnostics;

namespace PgMultiMaster.Replication;

/// <summary>
/// Which source transactions a link receives again after a failure, and how it applies them then: each failure moves
/// them one <see cref="ApplyMode"/> safer, so no transaction is retried the same way forever. Every other transaction
/// is applied optimistically. Pure: the link tells it what failed and asks it how to apply what arrives.
/// </summary>
public sealed class ReplayPlan
{
    // The transactions (commit LSNs from..to, usually one) being received again, and how.
    private ulong _from = 1, _to;
    private ApplyMode _mode;

    /// <summary>Why the transaction's changes are parked, in <see cref="ApplyMode.ParkAll"/>.</summary>
    public string ParkReason { get; private set; } = "";

    /// <summary>
    /// Changes (by position in the transaction, as the careful replay counts them) that took the connection down with
    /// them, and why: the next careful replay parks them without sending them.
    /// </summary>
    public IReadOnlyDictionary<int, string> Poisoned => _poisoned;
    private readonly Dictionary<int, string> _poisoned = [];

    public ApplyMode ModeOf(ulong finalLsn) => finalLsn >= _from && finalLsn <= _to ? _mode : ApplyMode.Optimistic;

    /// <summary>An unguarded batch of the transaction met a conflict: send it again with the checks.</summary>
    public string AfterConflictInUnguardedBatch(ulong finalLsn, string sqlState)
    {
        Set(finalLsn, finalLsn, ApplyMode.Guarded);
        return $"transaction at {Lsn(finalLsn)} met a conflict in a batch sent without checks ({sqlState}); sending it again with them";
    }

    /// <summary>
    /// One of the transactions from..to failed on what it applies: change by change next time, and if it already was,
    /// every change parked.
    /// </summary>
    public string AfterDataError(ulong from, ulong to, PostgresException error)
    {
        var careful = ModeOf(to) < ApplyMode.Careful;
        if (careful) Set(from, to, ApplyMode.Careful);
        else
        {
            Set(to, to, ApplyMode.ParkAll);
            ParkReason = $"{error.SqlState}: the transaction could not be applied, even change by change: {error.MessageText}";
        }
        var lsns = from == to ? Lsn(to) : $"{Lsn(from)}..{Lsn(to)}";
        return careful
            ? $"transaction at {lsns} failed ({ErrorText.Of(error)}); replaying it change by change"
            : $"transaction at {lsns} failed again, change by change ({ErrorText.Of(error)}); parking all its changes";
    }

    /// <summary>
    /// In the careful replay of a transaction, change number <paramref name="ordinal"/> failed so that the connection
    /// went with it (Npgsql drops it on XX errors), and nothing could be rolled back to: park it, unsent, next time.
    /// </summary>
    public string AfterPoisonedChange(ulong finalLsn, int ordinal, PostgresException error)
    {
        // Positions are this transaction's: from a range being replayed, keep only it (those before it committed).
        Set(finalLsn, finalLsn, ApplyMode.Careful);
        _poisoned[ordinal] = $"{error.SqlState}: {error.MessageText}";
        return $"transaction at {Lsn(finalLsn)}: change {ordinal + 1} failed and took the connection with it ({ErrorText.Of(error)}); " +
               "replaying the transaction change by change without it";
    }

    private void Set(ulong from, ulong to, ApplyMode mode)
    {
        if (from != _from || to != _to) _poisoned.Clear();
        (_from, _to, _mode) = (from, to, mode);
    }

    private static string Lsn(ulong lsn) => new NpgsqlLogSequenceNumber(lsn).ToString();
}
