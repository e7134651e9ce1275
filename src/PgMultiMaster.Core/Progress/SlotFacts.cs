using NpgsqlTypes;

namespace PgMultiMaster.Progress;

/// <summary>
/// What a source says about one link's slot: whether it exists, how far it is confirmed, whether PostgreSQL has
/// invalidated it, and pgmm's record of it in <c>pgmm.slot_progress</c> (see <see cref="SlotRecord"/>).
/// </summary>
/// <param name="RecordedApplied">The record's <c>applied_lsn</c>: the end LSN of the last applied transaction the slot
/// may have let go of. Null when there is no record: the slot was never created by <c>pgmm init</c> (or by a version
/// before the record existed).</param>
/// <param name="WalStatus"><c>reserved</c>, <c>extended</c>, <c>unreserved</c> or <c>lost</c>.</param>
/// <param name="InvalidationReason">PostgreSQL 17 and later: why the slot was invalidated, if it was.</param>
/// <param name="Conflicting">PostgreSQL 16 and later: invalidated by a recovery conflict.</param>
/// <param name="SourceWalEnd">Where the source's WAL ends (<c>pg_current_wal_lsn()</c>) as the slot was read.</param>
public sealed record SlotFacts(
    string SlotName, bool Exists, ulong ConfirmedFlush, string? WalStatus, string? InvalidationReason, bool Conflicting, ulong? RecordedApplied,
    ulong SourceWalEnd = ulong.MaxValue)
{
    /// <summary>
    /// Why the slot can no longer deliver everything it was meant to hold, or null. A slot that does not exist is lost
    /// only if it once did: pgmm recorded it, or <paramref name="progress"/> shows the target applied from it.
    /// </summary>
    public string? LostBecause(ulong progress = 0)
    {
        if (!Exists)
            return RecordedApplied is not null || progress > 0 ? $"slot {SlotName} is gone (dropped)" : null;
        if (WalStatus == "lost" || InvalidationReason is not null || Conflicting)
            return $"slot {SlotName} was invalidated ({InvalidationReason ?? (Conflicting ? "recovery conflict" : "wal_removed")}: wal_status {WalStatus}; "
                   + "the source removed WAL it still held, e.g. beyond max_slot_wal_keep_size)";
        return null;
    }

    public static string Lsn(ulong lsn) => new NpgsqlLogSequenceNumber(lsn).ToString();
}
