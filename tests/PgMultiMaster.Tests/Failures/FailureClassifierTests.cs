using System.Net.Sockets;
using Npgsql;
using PgMultiMaster.Configuration;
using PgMultiMaster.Failures;
using PgMultiMaster.Progress;

namespace PgMultiMaster.Tests.Failures;

public sealed class FailureClassifierTests
{
    private static PostgresException Error(string sqlState) => new("message", "ERROR", "ERROR", sqlState);

    [Fact]
    public void Pgmms_halt_signal_is_a_conflict_not_a_data_error()
    {
        var halt = Error(PgmmSqlStates.ConflictHalt);
        Assert.Equal("PM001", PgmmSqlStates.ConflictHalt);
        Assert.Equal(FailureKind.Conflict, FailureClassifier.Classify(halt));
        Assert.True(FailureClassifier.IsConflictSignal(halt));
        Assert.False(FailureClassifier.IsDataError(halt));
    }

    [Theory]
    [InlineData(PostgresErrorCodes.UniqueViolation)]
    [InlineData(PostgresErrorCodes.ExclusionViolation)]
    public void A_taken_key_is_a_conflict_when_sent_unguarded_and_a_data_error_when_guarded(string sqlState)
    {
        var e = Error(sqlState);
        Assert.Equal(FailureKind.ConstraintConflict, FailureClassifier.Classify(e));
        Assert.True(FailureClassifier.IsConflictSignal(e));
        Assert.True(FailureClassifier.IsDataError(e));
    }

    [Theory]
    [InlineData("22P02")] // invalid input
    [InlineData("23502")] // not null
    [InlineData("23503")] // foreign key
    [InlineData("42703")] // undefined column
    [InlineData("42501")] // insufficient privilege
    [InlineData("P0001")] // a trigger's RAISE
    [InlineData("XX000")] // internal error, also raised by functions
    public void What_the_target_refuses_to_apply_is_a_data_error_replayed_carefully(string sqlState)
    {
        var e = Error(sqlState);
        Assert.Equal(FailureKind.DataError, FailureClassifier.Classify(e));
        Assert.True(FailureClassifier.IsDataError(e));
        Assert.False(FailureClassifier.IsConflictSignal(e));
    }

    [Theory]
    [InlineData("08006")] // connection failure
    [InlineData("25P02")] // transaction aborted
    [InlineData("40001")] // serialization failure
    [InlineData("40P01")] // deadlock
    [InlineData("53300")] // too many connections
    [InlineData("55P03")] // lock not available
    [InlineData("55006")] // origin held by another session
    [InlineData("57P01")] // admin shutdown
    [InlineData("58030")] // I/O error
    public void The_connection_or_the_servers_state_is_transient_and_not_a_data_error(string sqlState)
    {
        var e = Error(sqlState);
        Assert.Equal(FailureKind.Transient, FailureClassifier.Classify(e));
        Assert.False(FailureClassifier.IsDataError(e));
        Assert.False(FailureClassifier.IsConflictSignal(e));
    }

    [Theory]
    [InlineData("28P01")] // wrong password
    [InlineData("28000")] // no pg_hba.conf entry
    public void An_authentication_failure_is_fatal(string sqlState) =>
        Assert.Equal(FailureKind.Fatal, FailureClassifier.Classify(Error(sqlState)));

    [Fact]
    public void Failures_retrying_cannot_fix_are_fatal()
    {
        Assert.Equal(FailureKind.Fatal, FailureClassifier.Classify(new LinkStopException("slot gone", slotLost: true)));
        Assert.Equal(FailureKind.Fatal, FailureClassifier.Classify(new ConfigurationException(["Conflicts: no such table"])));
    }

    [Fact]
    public void Connections_timeouts_and_tables_not_ready_are_transient()
    {
        Assert.Equal(FailureKind.Transient, FailureClassifier.Classify(new NpgsqlException("Failed to connect")));
        Assert.Equal(FailureKind.Transient, FailureClassifier.Classify(new TimeoutException("given up")));
        Assert.Equal(FailureKind.Transient, FailureClassifier.Classify(new SocketException()));
        Assert.Equal(FailureKind.Transient, FailureClassifier.Classify(new SchemaMismatchException("table missing")));
        Assert.Equal(FailureKind.Transient, FailureClassifier.Classify(new SlotRecord.NotInitializedException("run pgmm init")));
    }

    [Fact]
    public void The_apply_sides_own_failures_say_how_to_replay()
    {
        var error = Error("22P02");
        Assert.Equal(FailureKind.Replay, FailureClassifier.Classify(new ReplayException("one mode safer", error)));
        Assert.Equal(FailureKind.OptimisticConflict, FailureClassifier.Classify(new OptimisticBatchException(1, Error("23505"))));
        Assert.Equal(FailureKind.DataError, FailureClassifier.Classify(new ApplyDataException(1, 2, error)));
        Assert.Equal(FailureKind.DataError, FailureClassifier.Classify(new PoisonedChangeException(3, error)));
    }

    [Fact]
    public void Cancellation_is_not_a_failure()
    {
        Assert.Equal(FailureKind.Cancelled, FailureClassifier.Classify(new OperationCanceledException()));
        Assert.Equal(FailureKind.Cancelled, FailureClassifier.Classify(new TaskCanceledException()));
    }

    [Fact]
    public void Anything_else_is_unexpected_a_bug_retried_with_its_stack_logged()
    {
        Assert.Equal(FailureKind.Unexpected, FailureClassifier.Classify(new NullReferenceException()));
        Assert.Equal(FailureKind.Unexpected, FailureClassifier.Classify(new InvalidOperationException("bug")));
        Assert.Equal(FailureKind.Unexpected, FailureClassifier.Classify(new IOException("disk")));
    }
}
