using Npgsql;

namespace PgMultiMaster.Failures;

/// <summary>
/// An unguarded batch in the middle of a transaction met a conflict: its earlier batches are not kept, so the whole
/// transaction is received and sent again, guarded (<see cref="FailureKind.OptimisticConflict"/>).
/// </summary>
internal sealed class OptimisticBatchException(ulong finalLsn, PostgresException inner) : Exception(inner.Message, inner)
{
    public ulong FinalLsn { get; } = finalLsn;
    public PostgresException Error { get; } = inner;
}
