using System.Buffers.Binary;

namespace PgMultiMaster.Membership;

/// <summary>
/// Counts the rows of a COPY stream as it passes, chunk by chunk, without keeping it: the copy's progress in rows,
/// exact, whichever format. Text: one row per newline (a newline inside a value is escaped). Binary: the 19-byte
/// header and its extension, then per row a field count and each field's length and bytes, then -1.
/// </summary>
public sealed class CopyRowCounter(bool binary)
{
    private const int HeaderLength = 19; // signature (11), flags (4), extension length (4)

    private readonly byte[] _pending = new byte[HeaderLength];
    private int _pendingLength;
    private int _need = HeaderLength; // bytes of the next fixed-size item (header, field count, field length)
    private long _skip;               // bytes to pass over (header extension, field data)
    private State _state = State.Header;
    private int _fieldsLeft;

    private enum State { Header, FieldCount, FieldLength, Done }

    public long Rows { get; private set; }

    /// <summary>A chunk of text-format COPY data, as characters.</summary>
    public void AddText(ReadOnlySpan<char> chunk) => Rows += System.MemoryExtensions.Count(chunk, '\n');

    public void Add(ReadOnlySpan<byte> chunk)
    {
        if (!binary)
        {
            Rows += System.MemoryExtensions.Count(chunk, (byte)'\n');
            return;
        }
        while (chunk.Length > 0 && _state != State.Done)
        {
            if (_skip > 0)
            {
                var n = (int)Math.Min(_skip, chunk.Length);
                _skip -= n;
                chunk = chunk[n..];
                continue;
            }
            var take = Math.Min(_need - _pendingLength, chunk.Length);
            chunk[..take].CopyTo(_pending.AsSpan(_pendingLength));
            _pendingLength += take;
            chunk = chunk[take..];
            if (_pendingLength < _need) return;
            _pendingLength = 0;
            Advance(_pending.AsSpan(0, _need));
        }
    }

    private void Advance(ReadOnlySpan<byte> item)
    {
        switch (_state)
        {
            case State.Header:
                _skip = BinaryPrimitives.ReadUInt32BigEndian(item[15..]);
                (_state, _need) = (State.FieldCount, 2);
                break;
            case State.FieldCount:
                var count = BinaryPrimitives.ReadInt16BigEndian(item);
                if (count < 0) { _state = State.Done; break; } // the trailer
                Rows++;
                _fieldsLeft = count;
                if (count > 0) (_state, _need) = (State.FieldLength, 4);
                break;
            case State.FieldLength:
                var length = BinaryPrimitives.ReadInt32BigEndian(item);
                if (length > 0) _skip = length; // -1: NULL
                if (--_fieldsLeft == 0) (_state, _need) = (State.FieldCount, 2);
                break;
        }
    }
}
