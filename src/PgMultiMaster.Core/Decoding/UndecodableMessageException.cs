using NpgsqlTypes;

namespace PgMultiMaster.Decoding;

/// <summary>
/// The source sent a message pgmm cannot read (malformed, or text that is not UTF-8): the link stops rather than skip
/// or alter it.
/// </summary>
public sealed class UndecodableMessageException(ulong lsn, Exception inner)
    : Exception($"the source sent a message pgmm cannot read at {new NpgsqlLogSequenceNumber(lsn)}: {inner.Message}", inner)
{
    public ulong Lsn { get; } = lsn;
}
