using System.Buffers.Binary;
using System.Collections.Immutable;
using System.Text;
using Npgsql.Replication;

namespace PgMultiMaster.Decoding;

/// <summary>
/// Turns the raw pgoutput stream (protocol version 1, text values) into immutable <see cref="ReplicationEvent"/>s.
/// Each message is copied out of the connection's buffer in one read and parsed synchronously: Npgsql's typed
/// pgoutput messages read every column value through its own asynchronous call, which was the largest part of the
/// worker's CPU under a bulk load (docs/performance.md). Format: PostgreSQL's "Logical Replication Message Formats".
/// </summary>
/// <param name="isEcho">Whether a transaction replayed under this origin is one the link skips (echo): its changes are
/// then not read at all, so a node's own huge rows coming back to it cost neither memory nor CPU.</param>
public sealed class ChangeDecoder(Func<string, bool>? isEcho = null)
{
    // Microseconds since 2000-01-01 (PostgreSQL's epoch) to DateTime ticks.
    private static readonly long PostgresEpochTicks = new DateTime(2000, 1, 1, 0, 0, 0, DateTimeKind.Utc).Ticks;

    // Text is never silently altered: bytes that are not UTF-8 are an error, not a replacement character.
    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    // A buffer grown for one huge row is given back afterwards, so memory stays flat.
    private const int InitialBufferSize = 8192, KeptBufferSize = 1 << 20;

    private readonly Dictionary<uint, RelationInfo> _relations = [];
    private byte[] _buffer = new byte[InitialBufferSize];
    private bool _inEcho;

    /// <summary>Reads one message of the stream and decodes it; null for messages that carry nothing to apply.</summary>
    public async ValueTask<ReplicationEvent?> DecodeAsync(XLogDataMessage message, CancellationToken ct)
    {
        var length = checked((int)message.Data.Length);
        if (_buffer.Length < length) _buffer = new byte[Math.Max(length, _buffer.Length * 2)];
        var read = 0;
        if (_inEcho && length > 0)
        {
            // A change of a skipped transaction: what is left unread, Npgsql skips.
            await message.Data.ReadExactlyAsync(_buffer.AsMemory(0, 1), ct).ConfigureAwait(false);
            if (_buffer[0] is (byte)'I' or (byte)'U' or (byte)'D' or (byte)'T') return null;
            read = 1;
        }
        await message.Data.ReadExactlyAsync(_buffer.AsMemory(read, length - read), ct).ConfigureAwait(false);
        ReplicationEvent? decoded;
        try
        {
            decoded = Decode(_buffer.AsSpan(0, length));
        }
        catch (Exception e) when (e is InvalidDataException or DecoderFallbackException)
        {
            throw new UndecodableMessageException((ulong)message.WalStart, e);
        }
        if (_buffer.Length > KeptBufferSize) _buffer = new byte[InitialBufferSize];
        return decoded;
    }

    /// <summary>Decodes one pgoutput message; null for messages that carry nothing to apply (type descriptions).</summary>
    public ReplicationEvent? Decode(ReadOnlySpan<byte> message)
    {
        var r = new Reader(message);
        var kind = (char)r.Byte();
        if (_inEcho && kind is 'I' or 'U' or 'D' or 'T') return null; // skipped: see isEcho
        switch (kind)
        {
            case 'B':
            {
                _inEcho = false;
                var finalLsn = r.UInt64();
                var timestamp = r.Timestamp();
                return new TransactionBegin(finalLsn, timestamp, r.UInt32());
            }
            case 'O':
            {
                r.UInt64(); // the commit's position on the origin: not needed
                var origin = new TransactionOrigin(r.String());
                _inEcho = isEcho?.Invoke(origin.OriginName) ?? false;
                return origin;
            }
            case 'C':
            {
                _inEcho = false;
                r.Byte(); // flags, unused
                var commitLsn = r.UInt64();
                var endLsn = r.UInt64();
                return new TransactionCommit(commitLsn, endLsn, r.Timestamp());
            }
            case 'R':
                var relation = ReadRelation(ref r);
                _relations[relation.Id] = relation;
                return new RelationChanged(relation);
            case 'Y':
                return null; // a type's name: values are applied as text, the target casts them
            case 'I':
            {
                var rel = RelationOf(r.UInt32());
                r.Expect('N');
                return new RowChange(ChangeKind.Insert, rel, null, ReadTuple(ref r));
            }
            case 'U':
            {
                var rel = RelationOf(r.UInt32());
                Cell[]? old = null;
                var part = (char)r.Byte();
                // 'K': the old key (it changed); 'O': the whole old row (REPLICA IDENTITY FULL).
                if (part is 'K' or 'O')
                {
                    old = ReadTuple(ref r);
                    part = (char)r.Byte();
                }
                if (part != 'N') throw r.Unexpected(part, "'N'");
                return new RowChange(ChangeKind.Update, rel, old, ReadTuple(ref r));
            }
            case 'D':
            {
                var rel = RelationOf(r.UInt32());
                var part = (char)r.Byte();
                if (part is not ('K' or 'O')) throw r.Unexpected(part, "'K' or 'O'");
                return new RowChange(ChangeKind.Delete, rel, ReadTuple(ref r), null);
            }
            case 'T':
            {
                var count = r.UInt32();
                var options = r.Byte();
                var relations = new List<RelationInfo>((int)Math.Min(count, 1024));
                for (var i = 0; i < count; i++) relations.Add(RelationOf(r.UInt32()));
                return new TableTruncate(relations, (options & 1) != 0, (options & 2) != 0);
            }
            case 'M':
                return null; // logical decoding messages: not requested, ignored if a server sends them anyway
            default:
                throw new InvalidDataException(
                    $"pgoutput sent a message of unknown type '{kind}' ({message.Length} bytes); this worker reads protocol version 1.");
        }
    }

    private RelationInfo RelationOf(uint id) =>
        _relations.TryGetValue(id, out var r) ? r
            : throw new InvalidDataException($"pgoutput sent a change for relation {id} before describing it.");

    private static RelationInfo ReadRelation(ref Reader r)
    {
        var id = r.UInt32();
        // pgoutput sends an empty namespace for pg_catalog.
        var schema = r.String() is { Length: > 0 } ns ? ns : "pg_catalog";
        var name = r.String();
        var identity = (char)r.Byte() switch
        {
            'f' => ReplicaIdentity.Full,
            'n' => ReplicaIdentity.Nothing,
            'i' => ReplicaIdentity.Index,
            _ => ReplicaIdentity.Default,
        };
        var count = r.UInt16();
        var columns = ImmutableArray.CreateBuilder<ColumnInfo>(count);
        for (var i = 0; i < count; i++)
        {
            var isKey = (r.Byte() & 1) != 0;
            var column = r.String();
            var type = r.UInt32();
            r.UInt32(); // type modifier: the target's column has its own
            columns.Add(new ColumnInfo(column, type, isKey));
        }
        return new RelationInfo(id, schema, name, identity, columns.MoveToImmutable());
    }

    private static Cell[] ReadTuple(ref Reader r)
    {
        var cells = new Cell[r.UInt16()];
        for (var i = 0; i < cells.Length; i++)
        {
            var kind = (char)r.Byte();
            cells[i] = kind switch
            {
                'n' => Cell.Null,
                // pgoutput sends no data for unchanged TOAST values: never write NULL over them.
                'u' => Cell.Unchanged,
                't' => Cell.Of(r.Text()),
                _ => throw r.Unexpected(kind, "a text, null or unchanged-TOAST column ('t', 'n', 'u')"),
            };
        }
        return cells;
    }

    /// <summary>Big-endian reads over one message, with an error that says where a message ended early.</summary>
    private ref struct Reader(ReadOnlySpan<byte> message)
    {
        private readonly ReadOnlySpan<byte> _message = message;
        private int _at;

        public byte Byte() => Take(1)[0];
        public ushort UInt16() => BinaryPrimitives.ReadUInt16BigEndian(Take(2));
        public uint UInt32() => BinaryPrimitives.ReadUInt32BigEndian(Take(4));
        public ulong UInt64() => BinaryPrimitives.ReadUInt64BigEndian(Take(8));

        public DateTime Timestamp() => BinaryPrimitives.ReadInt64BigEndian(Take(8)) switch
        {
            long.MaxValue => DateTime.MaxValue,
            long.MinValue => DateTime.MinValue,
            var micros => new DateTime(PostgresEpochTicks + micros * 10, DateTimeKind.Utc),
        };

        /// <summary>A column value: a 4-byte length, then that many bytes of UTF-8.</summary>
        public string Text()
        {
            var length = BinaryPrimitives.ReadInt32BigEndian(Take(4));
            if (length < 0) throw Cut(length);
            return Utf8.GetString(Take(length));
        }

        /// <summary>A name: UTF-8 up to a zero byte.</summary>
        public string String()
        {
            var end = _message[_at..].IndexOf((byte)0);
            if (end < 0) throw Cut(_message.Length - _at + 1);
            var s = Utf8.GetString(_message.Slice(_at, end));
            _at += end + 1;
            return s;
        }

        public void Expect(char part)
        {
            var got = (char)Byte();
            if (got != part) throw Unexpected(got, $"'{part}'");
        }

        private readonly char Kind => _message.IsEmpty ? '?' : (char)_message[0];

        public readonly InvalidDataException Unexpected(char got, string expected) =>
            new($"pgoutput '{Kind}' message has '{got}' at byte {_at - 1} where {expected} belongs.");

        private ReadOnlySpan<byte> Take(int count)
        {
            if (count > _message.Length - _at) throw Cut(count);
            var span = _message.Slice(_at, count);
            _at += count;
            return span;
        }

        private readonly InvalidDataException Cut(int wanted) =>
            new($"pgoutput '{Kind}' message ends at byte {_message.Length}; {wanted} more bytes were due at byte {_at}.");
    }
}
