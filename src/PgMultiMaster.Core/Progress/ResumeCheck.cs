using PgMultiMaster.Topology;

namespace PgMultiMaster.Progress;

public enum ResumeVerdict
{
    /// <summary>The slot holds everything after the target's progress: stream.</summary>
    Resume,
    /// <summary>No slot, and nothing says there ever was one: <c>pgmm init</c> has not run yet. Retried.</summary>
    NotCreated,
    /// <summary>The slot was dropped or invalidated: what it held is gone.</summary>
    SlotLost,
    /// <summary>The target lost transactions the slot has already let go of.</summary>
    Gap,
    /// <summary>The source's WAL ends before the target's progress: the source lost WAL it had sent.</summary>
    SourceBehind,
}

/// <summary>
/// Decides, when a link starts, whether it can prove that it resumes exactly where the target left off (ADR 0013).
/// A pure decision on what the source and the target said; <see cref="Replication.LinkRunner"/> acts on it.
/// </summary>
public static class ResumeCheck
{
    /// <param name="progress">The target's progress for the link's origin (0: none yet).</param>
    public static (ResumeVerdict Verdict, string? Message) Decide(Link link, SlotFacts slot, ulong progress)
    {
        if (Lost(link, slot, progress) is { } lost) return (ResumeVerdict.SlotLost, lost);
        if (!slot.Exists)
            return (ResumeVerdict.NotCreated, $"slot {link.SlotName} does not exist on {link.Source.Name} yet: run pgmm init");

        // The target applied the source's transactions up to its progress, and the source flushed each before sending
        // it: a source whose WAL ends before that went back in time, and its new transactions, at positions the target
        // counts as applied, would be skipped. Seen only until the source's WAL passes that position again.
        if (progress > slot.SourceWalEnd)
            return (ResumeVerdict.SourceBehind,
                $"{link.Source.Name}'s WAL ends at {SlotFacts.Lsn(slot.SourceWalEnd)}, before {link.Target.Name}'s progress for origin {link.OriginName} "
                + $"({SlotFacts.Lsn(progress)}): {link.Source.Name} went back in time (restored from a backup, or a standby that lagged took its place), "
                + $"and what it writes until its WAL passes {SlotFacts.Lsn(progress)} would be skipped as applied before. Not resuming until an operator acts. "
                + $"Way out: with the worker of {link.Source.Name} stopped, on {link.Target.Name} run SELECT pg_replication_origin_drop('{link.OriginName}'); "
                + $"on {link.Source.Name} run SELECT pg_drop_replication_slot('{link.SlotName}'); then run pgmm init, start the worker of {link.Source.Name}, "
                + $"and once the link has caught up run pgmm diff: repair the rows of the tables that differ between {link.Source.Name} and {link.Target.Name} "
                + "(docs/operations.md: When a link stops).");

        // Transactions the link applied are let go of by the slot only after they are recorded (slot_progress): if the
        // target's progress is behind that record, and behind what the slot confirmed (beyond which the slot still has
        // everything), the target lost transactions the slot no longer holds. Idle confirmations and skipped echoes
        // move the slot, never the record, so they cannot make this trip. No record or a record of 0/0 (a slot pgmm
        // init just created, which has let go of nothing applied yet) proves nothing is missing.
        var applied = slot.RecordedApplied ?? 0;
        if (progress < applied && progress < slot.ConfirmedFlush)
            return (ResumeVerdict.Gap,
                $"gap: {link.Target.Name}'s progress for origin {link.OriginName} is {SlotFacts.Lsn(progress)}, but slot {link.SlotName} on "
                + $"{link.Source.Name} has let go of transactions applied up to {SlotFacts.Lsn(applied)} (confirmed_flush_lsn {SlotFacts.Lsn(slot.ConfirmedFlush)}): "
                + $"{link.Target.Name} lost transactions it once had (restored from a backup, or a standby that lagged took its place), and resuming "
                + $"would skip them silently. Not resuming until an operator acts. Way out: {WayOut(link, slotExists: true)}");
        return (ResumeVerdict.Resume, null);
    }

    /// <summary>
    /// Why the link's slot can no longer deliver what the target lacks, with the way out; null while it can. Also what
    /// the status monitor and <c>pgmm status</c> show, from the source alone (<paramref name="progress"/> unknown: 0).
    /// </summary>
    public static string? Lost(Link link, SlotFacts slot, ulong progress = 0) =>
        slot.LostBecause(progress) is { } lost
            ? $"{lost} on {link.Source.Name}: the changes it held for {link.Target.Name} are lost, and the link cannot resume until an operator acts. "
              + $"Way out: {WayOut(link, slot.Exists)}"
              // Invalidated: the target was typically down past max_slot_wal_keep_size, and may be behind on every link.
              + (slot.Exists ? $" If {link.Target.Name} is too far behind to repair that way, remove it (pgmm node remove {link.Target.Name} --force) "
                               + "and add it again (pgmm node add) (docs/operations.md: Removing a node)." : "")
            : null;

    /// <summary>What to run, in order: the slot again (from now on nothing more is lost), then repair what was.</summary>
    public static string WayOut(Link link, bool slotExists) =>
        (slotExists ? $"on {link.Source.Name} run SELECT pg_drop_replication_slot('{link.SlotName}'); then " : "")
        + $"run pgmm init (it creates the slot again), restart the worker of {link.Source.Name}, and once the link has caught up "
        + $"run pgmm diff: repair the rows of the tables that differ on {link.Target.Name} from {link.Source.Name} "
        + "(docs/operations.md: When a link stops).";
}
