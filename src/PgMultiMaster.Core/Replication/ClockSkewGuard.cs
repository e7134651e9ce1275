namespace PgMultiMaster.Replication;

/// <summary>
/// Last writer wins compares commit timestamps taken from different clocks: a remote commit from the future would
/// win every conflict. Measures how far each remote commit is ahead of the local clock and holds apply until the
/// local clock is within the configured bound of it.
/// </summary>
public sealed class ClockSkewGuard(TimeSpan bound, TimeProvider time)
{
    /// <summary>Last remote commit time minus local time when it arrived: positive means the remote clock is ahead.</summary>
    public TimeSpan LastSkew { get; private set; }

    /// <summary>How long apply must wait before the transaction committed at <paramref name="remoteCommit"/>.</summary>
    public TimeSpan HoldFor(DateTime remoteCommit)
    {
        LastSkew = remoteCommit - time.GetUtcNow().UtcDateTime;
        return LastSkew > bound ? LastSkew - bound : TimeSpan.Zero;
    }

    public Task WaitAsync(TimeSpan hold, CancellationToken ct) => hold <= TimeSpan.Zero ? Task.CompletedTask : Task.Delay(hold, time, ct);
}
