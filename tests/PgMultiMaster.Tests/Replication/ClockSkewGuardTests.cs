using Microsoft.Extensions.Time.Testing;
using PgMultiMaster.Replication;

namespace PgMultiMaster.Tests.Replication;

public sealed class ClockSkewGuardTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void A_commit_from_the_past_or_within_the_bound_is_applied_at_once()
    {
        var guard = new ClockSkewGuard(TimeSpan.FromMilliseconds(300), new FakeTimeProvider(Now));
        Assert.Equal(TimeSpan.Zero, guard.HoldFor(Now.UtcDateTime.AddSeconds(-2)));
        Assert.Equal(TimeSpan.FromSeconds(-2), guard.LastSkew);
        Assert.Equal(TimeSpan.Zero, guard.HoldFor(Now.UtcDateTime.AddMilliseconds(300)));
    }

    [Fact]
    public async Task A_commit_from_the_future_waits_until_the_local_clock_is_within_the_bound()
    {
        var clock = new FakeTimeProvider(Now);
        var guard = new ClockSkewGuard(TimeSpan.FromMilliseconds(300), clock);
        var hold = guard.HoldFor(Now.UtcDateTime.AddSeconds(1));
        Assert.Equal(TimeSpan.FromMilliseconds(700), hold);
        Assert.Equal(TimeSpan.FromSeconds(1), guard.LastSkew);

        var wait = guard.WaitAsync(hold, CancellationToken.None);
        clock.Advance(TimeSpan.FromMilliseconds(699));
        Assert.False(wait.IsCompleted);
        clock.Advance(TimeSpan.FromMilliseconds(1));
        await wait.WaitAsync(TimeSpan.FromSeconds(5));
    }
}
