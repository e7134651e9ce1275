using PgMultiMaster.Sql;
using Probe = PgMultiMaster.Sql.ConnectionWatchdog.Probe;

namespace PgMultiMaster.Tests.Sql;

/// <summary>When a connection that has waited the timeout for an answer is given up, from what the server says of its session.</summary>
public sealed class ConnectionWatchdogTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private static Probe Session(string? state, double seconds, string? waitEvent = null) =>
        new(null, Found: true, state, waitEvent, TimeSpan.FromSeconds(seconds));

    [Theory]
    [InlineData("active", 600, null)] // a long statement: a lock wait, a large batch, a resolver function
    [InlineData("active", 600, "Lock")]
    [InlineData("active", 10, "ClientWrite")] // sending a large answer, just now
    [InlineData("idle", 1, null)] // answered a moment ago: the answer may be on its way
    [InlineData("idle in transaction", 29, null)]
    [InlineData(null, 600, null)] // not allowed to see it: the server answered, so it is there
    [InlineData("disabled", 600, null)] // track_activities off: nothing to go by
    public void A_server_that_is_still_working_on_the_statement_or_cannot_tell_is_waited_for(string? state, double seconds, string? waitEvent) =>
        Assert.Null(ConnectionWatchdog.Judge(Session(state, seconds, waitEvent), Timeout));

    [Theory]
    [InlineData("idle", 30, null, "the server has been waiting for this worker for 30 s (state 'idle')")]
    [InlineData("idle in transaction", 45.5, null, "the server has been waiting for this worker for 45.5 s (state 'idle in transaction')")]
    [InlineData("idle in transaction (aborted)", 300, null, "(state 'idle in transaction (aborted)')")]
    [InlineData("active", 30, "ClientWrite", "the server has been stuck sending it for 30 s")]
    public void A_server_waiting_for_the_worker_while_the_worker_waits_for_it_means_the_answer_is_lost(string state, double seconds, string? waitEvent, string reason)
    {
        var judged = ConnectionWatchdog.Judge(Session(state, seconds, waitEvent), Timeout);
        Assert.NotNull(judged);
        Assert.StartsWith("no answer for 60 s, and ", judged, StringComparison.Ordinal);
        Assert.Contains(reason, judged, StringComparison.Ordinal);
    }

    [Fact]
    public void A_session_the_server_no_longer_has_or_a_server_out_of_reach_means_the_connection_is_lost()
    {
        Assert.Equal("no answer for 60 s, and the server has no such session any more",
            ConnectionWatchdog.Judge(new Probe(null, Found: false, null, null, TimeSpan.Zero), Timeout));
        Assert.Equal("no answer for 60 s, and a fresh connection to the server failed too (Timeout during connection attempt)",
            ConnectionWatchdog.Judge(new Probe("Timeout during connection attempt", Found: false, null, null, TimeSpan.Zero), Timeout));
    }
}
