using Npgsql;

namespace PgMultiMaster.Failures;

/// <summary>
/// A queued transaction failed on a data error: replay it change by change (careful mode). The transaction is one
/// of those whose commit LSNs lie from <paramref name="fromLsn"/> to <paramref name="toLsn"/> (the same, when known).
/// </summary>
internal sealed class ApplyDataException(ulong fromLsn, ulong toLsn, PostgresException inner) : Exception(inner.Message, inner)
{
    public ulong FromLsn { get; } = fromLsn;
    public ulong ToLsn { get; } = toLsn;
    public PostgresException Error { get; } = inner;
}
