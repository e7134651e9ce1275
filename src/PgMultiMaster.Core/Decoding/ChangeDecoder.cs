using System.Collections.Immutable;
using Npgsql.Replication.PgOutput;
using Npgsql.Replication.PgOutput.Messages;

namespace PgMultiMaster.Decoding;

/// <summary>
/// Turns Npgsql's pgoutput messages (reused instances, forward-only tuples) into immutable
/// <see cref="ReplicationEvent"/>s. Everything needed from a message is read before the next one.
/// </summary>
public sealed class ChangeDecoder
{
    private readonly Dictionary<uint, RelationInfo> _relations = [];

    /// <summary>Decodes one message; null for messages that carry nothing to apply (keepalive-like, type info).</summary>
    public async ValueTask<ReplicationEvent?> DecodeAsync(PgOutputReplicationMessage message, CancellationToken ct)
    {
        switch (message)
        {
            case BeginMessage b:
                return new TransactionBegin((ulong)b.TransactionFinalLsn, b.TransactionCommitTimestamp, b.TransactionXid);
            case OriginMessage o:
                return new TransactionOrigin(o.OriginName);
            case CommitMessage c:
                return new TransactionCommit((ulong)c.CommitLsn, (ulong)c.TransactionEndLsn, c.TransactionCommitTimestamp);
            case RelationMessage r:
                var relation = Copy(r);
                _relations[relation.Id] = relation;
                return new RelationChanged(relation);
            case InsertMessage i:
                return new RowChange(ChangeKind.Insert, RelationOf(i.Relation.RelationId), null, await ReadAsync(i.NewRow, ct).ConfigureAwait(false));
            // The old tuple must be read before the new one: a ReplicationTuple is forward-only.
            case FullUpdateMessage fu:
            {
                var old = await ReadAsync(fu.OldRow, ct).ConfigureAwait(false);
                return new RowChange(ChangeKind.Update, RelationOf(fu.Relation.RelationId), old, await ReadAsync(fu.NewRow, ct).ConfigureAwait(false));
            }
            case IndexUpdateMessage iu:
            {
                var old = await ReadAsync(iu.Key, ct).ConfigureAwait(false);
                return new RowChange(ChangeKind.Update, RelationOf(iu.Relation.RelationId), old, await ReadAsync(iu.NewRow, ct).ConfigureAwait(false));
            }
            case UpdateMessage u:
                return new RowChange(ChangeKind.Update, RelationOf(u.Relation.RelationId), null, await ReadAsync(u.NewRow, ct).ConfigureAwait(false));
            case FullDeleteMessage fd:
                return new RowChange(ChangeKind.Delete, RelationOf(fd.Relation.RelationId), await ReadAsync(fd.OldRow, ct).ConfigureAwait(false), null);
            case KeyDeleteMessage kd:
                return new RowChange(ChangeKind.Delete, RelationOf(kd.Relation.RelationId), await ReadAsync(kd.Key, ct).ConfigureAwait(false), null);
            case TruncateMessage t:
                return new TableTruncate(
                    t.Relations.Select(r => RelationOf(r.RelationId)).ToList(),
                    t.Options.HasFlag(TruncateMessage.TruncateOptions.Cascade),
                    t.Options.HasFlag(TruncateMessage.TruncateOptions.RestartIdentity));
            default:
                return null;
        }
    }

    private RelationInfo RelationOf(uint id) =>
        _relations.TryGetValue(id, out var r) ? r
            : throw new InvalidOperationException($"pgoutput sent a change for relation {id} before describing it.");

    private static RelationInfo Copy(RelationMessage r)
    {
        var columns = ImmutableArray.CreateBuilder<ColumnInfo>(r.Columns.Count);
        foreach (var c in r.Columns)
            columns.Add(new ColumnInfo(c.ColumnName, c.DataTypeId,
                c.Flags.HasFlag(RelationMessage.Column.ColumnFlags.PartOfKey)));
        var identity = (char)r.ReplicaIdentity switch
        {
            'f' => ReplicaIdentity.Full,
            'n' => ReplicaIdentity.Nothing,
            'i' => ReplicaIdentity.Index,
            _ => ReplicaIdentity.Default,
        };
        return new RelationInfo(r.RelationId, r.Namespace, r.RelationName, identity, columns.MoveToImmutable());
    }

    private static async ValueTask<Cell[]> ReadAsync(ReplicationTuple tuple, CancellationToken ct)
    {
        var cells = new Cell[tuple.NumColumns];
        var i = 0;
        await foreach (var value in tuple.WithCancellation(ct).ConfigureAwait(false))
        {
            cells[i++] = value.Kind switch
            {
                TupleDataKind.Null => Cell.Null,
                // pgoutput sends no data for unchanged TOAST values: never write NULL over them.
                TupleDataKind.UnchangedToastedValue => Cell.Unchanged,
                _ => Cell.Of(await value.Get<string>(ct).ConfigureAwait(false)),
            };
        }
        return cells;
    }
}
