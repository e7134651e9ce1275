using PgMultiMaster.Apply;

namespace PgMultiMaster.Replication;

/// <summary>
/// <see cref="Failed"/>: stopped until an operator acts (<see cref="Failures.LinkStopException"/>). <see cref="SlotLost"/>: the same,
/// because the source's slot was dropped or invalidated and what it held is gone.
/// </summary>
public enum LinkState { Starting, Streaming, CatchingUp, HoldingForClockSkew, BackingOff, Failed, Stopped, SlotLost }

/// <summary>What a link is doing, for status output and metrics. Written by the link and its monitor, read by anyone.</summary>
public sealed class LinkStatus
{
    public required string Source { get; init; }
    public required string Target { get; init; }
    public string Name => $"{Source}->{Target}";

    private volatile int _state;
    public LinkState State
    {
        get
        {
            var state = (LinkState)_state;
            // The source says the slot is gone or invalidated: whatever the link is doing meanwhile (backing off while
            // its target is down, say), it cannot resume.
            if (Measured.SlotLost is not null && state != LinkState.Stopped) return LinkState.SlotLost;
            // Connected but still working through what the source had written before: catching up.
            return state == LinkState.Streaming && ConfirmedLsn < CatchUpTo ? LinkState.CatchingUp : state;
        }
        internal set => _state = (int)value;
    }

    /// <summary>The name used in JSON, metrics and <c>pgmm status</c>.</summary>
    public string StateName => NameOf(State);

    /// <summary>Why the link is in <paramref name="state"/>: what the source says of a lost slot, else the last failure.</summary>
    public string? Problem(LinkState state) => state == LinkState.SlotLost ? Measured.SlotLost ?? LastError : LastError;

    public static string NameOf(LinkState state) => state switch
    {
        LinkState.Starting => "starting",
        LinkState.Streaming => "streaming",
        LinkState.CatchingUp => "catching_up",
        LinkState.HoldingForClockSkew => "holding",
        LinkState.BackingOff => "backing_off",
        LinkState.SlotLost => "slot_lost",
        _ => "down",
    };

    public static readonly string[] StateNames = [.. Enum.GetValues<LinkState>().Select(NameOf).Distinct()];

    /// <summary>
    /// The last failure, as <see cref="Diagnostics.ErrorText.Of"/> tells it: shown by <c>/readyz</c>, <c>/api/*</c>,
    /// <c>pgmm status</c> and <c>pgmm.worker_status</c>, so it must never carry a row value.
    /// </summary>
    public string? LastError { get; internal set; }
    public DateTimeOffset? LastErrorAt { get; internal set; }
    public ulong ConfirmedLsn { get; internal set; }
    /// <summary>The source's WAL end when the link last connected: below it the link is catching up.</summary>
    public ulong CatchUpTo { get; internal set; }
    /// <summary>Source transactions committed on the target.</summary>
    public long TransactionsApplied => Counters.TransactionsApplied;
    public long TransactionsSkippedAsEcho { get; internal set; }
    public long Retries { get; internal set; }
    public long RetriedFromDeadLetter { get; internal set; }
    public LinkCounters Counters { get; } = new();
    public long RowsApplied => Counters.Rows;
    public long Conflicts => Counters.Conflicts;
    public long Parked => Counters.Parked;
    /// <summary>Last remote commit time minus local time when it arrived: positive means the source's clock is ahead.</summary>
    public TimeSpan ClockSkew { get; internal set; }

    /// <summary>Source commit → target commit of the last applied transaction, and when that was (null: none yet).</summary>
    public LastApply? LastApplied => Counters.LastApplied;

    /// <summary>Measured by the status monitor from the source's slot; replaced whole, so readers never see half of it.</summary>
    public LinkMeasurement Measured { get; internal set; } = LinkMeasurement.Unknown;
    public long? LagBytes => Measured.LagBytes;
    public TimeSpan? Lag => Measured.Lag;
    public long? WalRetainedBytes => Measured.WalRetainedBytes;
}

/// <param name="SlotLost">Why the source says the link's slot can no longer deliver (dropped, invalidated), with the way out; null while it can.</param>
public sealed record LinkMeasurement(long? LagBytes, TimeSpan? Lag, long? WalRetainedBytes, string? SlotLost = null)
{
    public static readonly LinkMeasurement Unknown = new(null, null, null);
}
