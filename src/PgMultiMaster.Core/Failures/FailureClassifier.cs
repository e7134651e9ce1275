using System.Net.Sockets;
using Npgsql;
using PgMultiMaster.Configuration;
using PgMultiMaster.Progress;

namespace PgMultiMaster.Failures;

/// <summary>
/// The one place that says what a failure means (<see cref="FailureKind"/>): the link's retry pipeline and every apply
/// path ask here, so a SQLSTATE or an exception type is judged the same way wherever it appears.
/// </summary>
public static class FailureClassifier
{
    public static FailureKind Classify(Exception e) => e switch
    {
        OperationCanceledException => FailureKind.Cancelled,
        LinkStopException or ConfigurationException => FailureKind.Fatal,
        ReplayException => FailureKind.Replay,
        OptimisticBatchException => FailureKind.OptimisticConflict,
        ApplyDataException or PoisonedChangeException => FailureKind.DataError,
        PostgresException p => OfSqlState(p.SqlState),
        NpgsqlException or TimeoutException or SocketException or SchemaMismatchException or SlotRecord.NotInitializedException
            => FailureKind.Transient,
        _ => FailureKind.Unexpected,
    };

    /// <summary>
    /// Retried, not data errors: connection failures (08), serialization failures and deadlocks (40), insufficient
    /// resources (53), a lock or an origin another session holds (55P03, 55006), operator intervention (57), system errors
    /// (58), a transaction the session left in a bad state (25: a fresh session fixes it). Authentication failures (28)
    /// stop the link: retrying a wrong password only locks accounts and hides the cause.
    /// </summary>
    private static FailureKind OfSqlState(string sqlState) => sqlState switch
    {
        PgmmSqlStates.ConflictHalt => FailureKind.Conflict,
        PostgresErrorCodes.UniqueViolation or PostgresErrorCodes.ExclusionViolation => FailureKind.ConstraintConflict,
        PostgresErrorCodes.LockNotAvailable or PostgresErrorCodes.ObjectInUse => FailureKind.Transient,
        _ => sqlState[..2] switch
        {
            "08" or "25" or "40" or "53" or "57" or "58" => FailureKind.Transient,
            "28" => FailureKind.Fatal,
            _ => FailureKind.DataError,
        },
    };

    /// <summary>
    /// A whole transaction sent at once, unguarded or with its halt check, was rolled back by a conflict: it is sent
    /// again guarded (<see cref="FailureKind.Conflict"/>, <see cref="FailureKind.ConstraintConflict"/>).
    /// </summary>
    public static bool IsConflictSignal(PostgresException e) => Classify(e) is FailureKind.Conflict or FailureKind.ConstraintConflict;

    /// <summary>
    /// A guarded statement was refused for what it applies (<see cref="FailureKind.DataError"/>; a unique constraint that
    /// is not the key too): replayed change by change, parking what still fails.
    /// </summary>
    public static bool IsDataError(PostgresException e) => Classify(e) is FailureKind.DataError or FailureKind.ConstraintConflict;
}
