using Npgsql;
using PgMultiMaster.Apply;
using PgMultiMaster.Replication;

namespace PgMultiMaster.Tests.Replication;

public sealed class ReplayPlanTests
{
    private static PostgresException Error(string sqlState, string message) =>
        new(message, "ERROR", "ERROR", sqlState);

    [Fact]
    public void Every_transaction_starts_optimistic()
    {
        var plan = new ReplayPlan();
        Assert.Equal(ApplyMode.Optimistic, plan.ModeOf(0));
        Assert.Equal(ApplyMode.Optimistic, plan.ModeOf(1));
        Assert.Equal(ApplyMode.Optimistic, plan.ModeOf(ulong.MaxValue));
    }

    [Fact]
    public void Each_data_error_moves_a_transaction_one_mode_safer_and_never_back()
    {
        var plan = new ReplayPlan();
        var error = Error("23514", "two sevens");
        plan.AfterConflictInUnguardedBatch(100, "23505");
        Assert.Equal(ApplyMode.Guarded, plan.ModeOf(100));
        Assert.Equal(ApplyMode.Optimistic, plan.ModeOf(99));

        Assert.Contains("replaying it change by change", plan.AfterDataError(100, 100, error));
        Assert.Equal(ApplyMode.Careful, plan.ModeOf(100));

        Assert.Contains("parking all its changes", plan.AfterDataError(100, 100, error));
        Assert.Equal(ApplyMode.ParkAll, plan.ModeOf(100));
        Assert.Equal("23514: the transaction could not be applied, even change by change: two sevens", plan.ParkReason);
        Assert.Equal(ApplyMode.Optimistic, plan.ModeOf(101));
    }

    [Fact]
    public void A_failed_pipeline_of_transactions_is_replayed_carefully_and_then_only_the_one_that_failed_is_parked()
    {
        var plan = new ReplayPlan();
        var error = Error("XX000", "boom");
        Assert.Contains("0/64..0/C8", plan.AfterDataError(100, 200, error));
        Assert.Equal(ApplyMode.Careful, plan.ModeOf(100));
        Assert.Equal(ApplyMode.Careful, plan.ModeOf(150));
        Assert.Equal(ApplyMode.Careful, plan.ModeOf(200));
        Assert.Equal(ApplyMode.Optimistic, plan.ModeOf(201));

        plan.AfterDataError(150, 150, error);
        Assert.Equal(ApplyMode.ParkAll, plan.ModeOf(150));
        Assert.Equal(ApplyMode.Optimistic, plan.ModeOf(200));
    }

    [Fact]
    public void A_change_that_took_the_connection_down_is_parked_unsent_in_its_own_transaction_only()
    {
        var plan = new ReplayPlan();
        plan.AfterDataError(100, 200, Error("XX000", "boom"));
        Assert.Contains("change 3 failed and took the connection with it", plan.AfterPoisonedChange(150, 2, Error("XX000", "no booms here")));
        Assert.Equal(ApplyMode.Careful, plan.ModeOf(150));
        Assert.Equal(ApplyMode.Optimistic, plan.ModeOf(100));
        Assert.Equal("XX000: no booms here", plan.Poisoned[2]);

        plan.AfterPoisonedChange(150, 5, Error("XX000", "again"));
        Assert.Equal(2, plan.Poisoned.Count);
        plan.AfterDataError(300, 300, Error("22P02", "bad"));
        Assert.Empty(plan.Poisoned);
    }
}
