using PgMultiMaster.Decoding;

namespace PgMultiMaster.Apply;

/// <summary>
/// A source transaction wholly received and waiting to be sent with others, still its own target transaction.
/// <paramref name="OnCommitted"/> learns where the target committed it.
/// </summary>
internal sealed record QueuedTransaction(TransactionBegin Begin, TransactionCommit Commit, List<PendingChange> Items, long Bytes,
    Action<ulong> OnCommitted);
