namespace PgMultiMaster.Decoding;

/// <summary>What the decoder hands on: immutable copies, safe to keep across awaits.</summary>
public abstract record ReplicationEvent
{
    /// <summary>About what it holds in memory, for the byte budget of a link (<c>Apply:MaxBufferedBytes</c>).</summary>
    public virtual long MemorySize => 64;
}

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
public sealed record RowChange(ChangeKind Kind, RelationInfo Relation, Cell[]? Old, Cell[]? New) : ReplicationEvent
{
    /// <summary>Its values as .NET strings (two bytes a character) and a little more.</summary>
    public override long MemorySize => 64 + SizeOf(Old) + SizeOf(New);

    private static long SizeOf(Cell[]? row)
    {
        if (row is null) return 0;
        long size = 0;
        foreach (var cell in row) size += 24 + 2L * (cell.Text?.Length ?? 0);
        return size;
    }
}

public sealed record TableTruncate(IReadOnlyList<RelationInfo> Relations, bool Cascade, bool RestartIdentity) : ReplicationEvent;

/// <summary>A relation's shape arrived or changed.</summary>
public sealed record RelationChanged(RelationInfo Relation) : ReplicationEvent;
