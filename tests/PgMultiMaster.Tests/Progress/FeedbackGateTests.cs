using Microsoft.Extensions.Time.Testing;
using PgMultiMaster.Progress;

namespace PgMultiMaster.Tests.Progress;

/// <summary>
/// The one place that confirms a slot: an applied transaction only once the target has flushed its commit and the
/// source has recorded it; what needed nothing on the target (echoes, idle WAL) without a record.
/// </summary>
public sealed class FeedbackGateTests
{
    private sealed class Source
    {
        public List<ulong> Confirmed { get; } = [];
        public ulong Received { get; set; }
        public int Unhandled { get; set; }
        public ulong Last => Confirmed.Count == 0 ? 0 : Confirmed[^1];
    }

    private static FeedbackGate Gate(Source source, ulong confirmed = 100, ulong applied = 100, ulong recorded = 100) =>
        new(Timeout.InfiniteTimeSpan, confirmed, applied, recorded, source.Confirmed.Add, () => source.Received, () => source.Unhandled);

    [Fact]
    public void An_applied_transaction_is_confirmed_only_once_the_target_flushed_its_commit_and_the_source_recorded_it()
    {
        var source = new Source();
        using var gate = Gate(source);
        gate.TransactionStarted();
        gate.TransactionDone(sourceEnd: 200, targetLsn: 5000);
        Assert.Empty(source.Confirmed);
        Assert.Null(gate.Unrecorded); // not durable on the target yet: nothing to record

        gate.TargetFlushed(4999);
        Assert.Empty(source.Confirmed);
        gate.TargetFlushed(5000);
        Assert.Empty(source.Confirmed);
        Assert.Equal(200UL, gate.Unrecorded);

        gate.Recorded(200);
        Assert.Equal([200UL], source.Confirmed);
        Assert.Null(gate.Unrecorded);
    }

    [Fact]
    public void Echoes_and_idle_WAL_are_confirmed_without_a_record()
    {
        var source = new Source();
        using var gate = Gate(source);
        gate.TransactionStarted();
        gate.TransactionDone(sourceEnd: 300, targetLsn: 0); // skipped as echo: nothing written on the target
        Assert.Equal([300UL], source.Confirmed);
        Assert.Null(gate.Unrecorded);

        source.Received = 900;
        gate.ConfirmIdle();
        Assert.Equal([300UL, 900UL], source.Confirmed);
        Assert.Null(gate.Unrecorded);
    }

    [Fact]
    public void Past_an_unrecorded_applied_transaction_the_slot_waits_at_the_last_recorded_one()
    {
        var source = new Source();
        using var gate = Gate(source);
        gate.TransactionDone(200, 5000);
        gate.TransactionDone(300, 0);
        gate.TargetFlushed(6000);
        source.Received = 900;
        gate.ConfirmIdle();
        Assert.Empty(source.Confirmed); // 200 is applied and not recorded: the slot must not pass it

        gate.Recorded(200);
        Assert.Equal([900UL], source.Confirmed);
    }

    [Fact]
    public void Idle_WAL_is_confirmed_only_with_nothing_in_flight()
    {
        var source = new Source { Received = 900 };
        using var gate = Gate(source);

        gate.TransactionStarted();
        gate.ConfirmIdle();
        Assert.Empty(source.Confirmed);

        gate.TransactionDone(400, 5000); // applied, not flushed yet
        gate.ConfirmIdle();
        Assert.Empty(source.Confirmed);

        gate.TargetFlushed(5000);
        gate.Recorded(400);
        source.Unhandled = 1; // received ahead of the apply side: not handled yet
        gate.ConfirmIdle();
        Assert.Equal([400UL], source.Confirmed);

        source.Unhandled = 0;
        gate.ConfirmIdle();
        Assert.Equal([400UL, 900UL], source.Confirmed);
    }

    [Fact]
    public void Queued_transactions_are_confirmed_in_order_once_their_commits_are_known_and_flushed()
    {
        var source = new Source();
        using var gate = Gate(source);
        var first = gate.TransactionQueued(200);
        var second = gate.TransactionQueued(300);
        gate.TargetFlushed(10_000);
        Assert.Null(gate.Unrecorded);

        second(6000);
        gate.TargetFlushed(10_000);
        Assert.Null(gate.Unrecorded); // the first is still unsent: nothing after it may go

        first(5000);
        gate.TargetFlushed(10_000);
        Assert.Equal(300UL, gate.Unrecorded);
        gate.Recorded(300);
        Assert.Equal([300UL], source.Confirmed);
    }

    [Fact]
    public void The_progress_the_target_had_at_start_is_recorded_before_the_slot_passes_it()
    {
        // The target applied up to 500 before a restart; the slot had confirmed 450 and the source recorded 400.
        var source = new Source { Received = 700 };
        using var gate = Gate(source, confirmed: 450, applied: 500, recorded: 400);
        gate.TransactionDone(480, 0); // sent again, skipped as applied before
        gate.ConfirmIdle();
        Assert.Empty(source.Confirmed);
        Assert.Equal(500UL, gate.Unrecorded);

        gate.Recorded(500);
        Assert.Equal([700UL], source.Confirmed);
    }

    [Fact]
    public void Nothing_at_or_below_the_slots_position_at_start_is_confirmed()
    {
        var source = new Source { Received = 300 };
        using var gate = Gate(source, confirmed: 300, applied: 0, recorded: 0);
        gate.TransactionDone(250, 0);
        gate.ConfirmIdle();
        Assert.Empty(source.Confirmed);
        Assert.Equal(300UL, gate.Confirmed);
    }

    [Fact]
    public void The_timer_confirms_idle_WAL_at_each_interval_and_not_before()
    {
        var source = new Source { Received = 900 };
        var clock = new FakeTimeProvider();
        using var gate = new FeedbackGate(TimeSpan.FromMilliseconds(500), 100, 100, 100, source.Confirmed.Add, () => source.Received,
            () => source.Unhandled, clock);
        clock.Advance(TimeSpan.FromMilliseconds(499));
        Assert.Empty(source.Confirmed);
        clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal([900UL], source.Confirmed);

        source.Received = 1200;
        clock.Advance(TimeSpan.FromMilliseconds(500));
        Assert.Equal([900UL, 1200UL], source.Confirmed);
    }

    [Fact]
    public void A_disposed_gate_confirms_nothing_more()
    {
        var source = new Source { Received = 900 };
        var clock = new FakeTimeProvider();
        var gate = new FeedbackGate(TimeSpan.FromMilliseconds(500), 100, 100, 100, source.Confirmed.Add, () => source.Received,
            () => source.Unhandled, clock);
        gate.Dispose();
        clock.Advance(TimeSpan.FromSeconds(5));
        Assert.Empty(source.Confirmed);
    }

    [Fact]
    public void The_slot_never_passes_what_the_target_has_flushed()
    {
        var source = new Source { Received = 900 };
        using var gate = Gate(source);
        gate.TransactionDone(200, 5000);
        gate.TransactionDone(300, 6000);
        gate.TargetFlushed(5500);
        Assert.Equal(200UL, gate.Unrecorded);

        gate.Recorded(300); // a record ahead of the flush must not let the slot pass the unflushed transaction
        gate.ConfirmIdle();
        Assert.Equal([200UL], source.Confirmed);
        Assert.True(gate.AwaitingFlush);

        gate.TargetFlushed(6000);
        Assert.False(gate.AwaitingFlush);
        gate.ConfirmIdle();
        Assert.Equal([200UL, 300UL, 900UL], source.Confirmed);
    }

    [Fact]
    public void An_echo_behind_an_unflushed_applied_transaction_waits_for_it()
    {
        var source = new Source();
        using var gate = Gate(source);
        gate.TransactionDone(200, 5000);
        gate.TransactionDone(300, 0); // needed nothing on the target, but comes after one that is not durable yet
        Assert.Empty(source.Confirmed);

        gate.TargetFlushed(5000);
        gate.Recorded(200);
        Assert.Equal([300UL], source.Confirmed);
    }

    [Fact]
    public void Positions_reported_out_of_order_never_move_the_slot_back()
    {
        var source = new Source();
        using var gate = Gate(source);
        gate.TransactionDone(200, 5000);
        gate.TargetFlushed(5000);
        gate.Recorded(200);
        Assert.Equal([200UL], source.Confirmed);

        gate.TargetFlushed(4000); // an older flush report
        gate.Recorded(150);       // an older record
        Assert.Null(gate.Unrecorded);
        gate.TransactionDone(300, 4500); // committed below the flushed position: durable already
        Assert.Equal(300UL, gate.Unrecorded);
        gate.Recorded(300);
        Assert.Equal([200UL, 300UL], source.Confirmed);
        Assert.Equal(300UL, gate.Confirmed);
    }

    [Fact]
    public void Idle_WAL_below_the_confirmed_position_is_not_confirmed_again()
    {
        var source = new Source { Received = 900 };
        using var gate = Gate(source);
        gate.ConfirmIdle();
        source.Received = 800; // a keepalive carrying an older position
        gate.ConfirmIdle();
        Assert.Equal([900UL], source.Confirmed);
        Assert.Equal(900UL, gate.Confirmed);
    }

    [Fact]
    public void A_link_resuming_with_everything_recorded_confirms_idle_WAL_at_once()
    {
        // The target applied up to 500, the source recorded 500, the slot confirmed 450: nothing is missing.
        var source = new Source { Received = 700 };
        using var gate = Gate(source, confirmed: 450, applied: 500, recorded: 500);
        Assert.Null(gate.Unrecorded);
        Assert.Equal(450UL, gate.Confirmed);
        gate.ConfirmIdle();
        Assert.Equal([700UL], source.Confirmed);
    }

    [Fact]
    public void A_fresh_link_confirms_echoes_without_any_record()
    {
        // pgmm init wrote the record as 0/0 and the target has no origin progress.
        var source = new Source();
        using var gate = Gate(source, confirmed: 100, applied: 0, recorded: 0);
        Assert.Null(gate.Unrecorded);
        gate.TransactionDone(200, 0);
        Assert.Equal([200UL], source.Confirmed);
    }
}
