namespace PgMultiMaster.Decoding;

/// <summary>What the decoder hands on: immutable copies, safe to keep across awaits.</summary>
public abstract record ReplicationEvent;

/// <param name="FinalLsn">LSN of the transaction's commit record.</param>
public sealed record TransactionBegin(ulong FinalLsn, DateTime CommitTimestamp, uint Xid) : ReplicationEvent;

/// <summary>The transaction was replayed under a replication origin, i.e. it arrived by replication.</summary>
public sealed record TransactionOrigin(string OriginName) : ReplicationEvent;

/// <param name="EndLsn">End of the commit record: the position to resume after, once applied.</param>
public sealed record TransactionCommit(ulong CommitLsn, ulong EndLsn, DateTime CommitTimestamp) : ReplicationEvent;

public enum ChangeKind : byte { Insert, Update, Delete }

/// <summary>
/// One row change. <see cref="Old"/> is the old key (or whole old row under REPLICA IDENTITY FULL) when the
/// source sent one: always for deletes, for updates only when the key changed or identity is FULL.
/// </summary>
public sealed record RowChange(ChangeKind Kind, RelationInfo Relation, Cell[]? Old, Cell[]? New) : ReplicationEvent;

public sealed record TableTruncate(IReadOnlyList<RelationInfo> Relations, bool Cascade, bool RestartIdentity) : ReplicationEvent;

/// <summary>A relation's shape arrived or changed.</summary>
public sealed record RelationChanged(RelationInfo Relation) : ReplicationEvent;
