namespace PgMultiMaster.Replication;

public enum LinkState { Starting, Streaming, HoldingForClockSkew, BackingOff, Failed, Stopped }

/// <summary>What a link is doing, for status output. Written by the link, read by anyone.</summary>
public sealed class LinkStatus
{
    public required string Name { get; init; }
    public LinkState State { get; internal set; } = LinkState.Starting;
    public string? LastError { get; internal set; }
    public DateTimeOffset? LastErrorAt { get; internal set; }
    public ulong ConfirmedLsn { get; internal set; }
    public long TransactionsApplied { get; internal set; }
    public long TransactionsSkippedAsEcho { get; internal set; }
    public long RowsApplied { get; internal set; }
    public long Conflicts { get; internal set; }
    public long Parked { get; internal set; }
    public long RetriedFromDeadLetter { get; internal set; }
    /// <summary>Last remote commit time minus local time when it arrived: positive means the source's clock is ahead.</summary>
    public TimeSpan ClockSkew { get; internal set; }
}
