using System.Buffers.Binary;
using System.Text;

namespace PgMultiMaster.IntegrationTests.Harness;

/// <summary>
/// Cuts one direction of a PostgreSQL connection into protocol messages as its bytes pass through a
/// <see cref="FaultProxy"/>, keeping the first bytes of each body: enough to read a statement's name and the start
/// of its text. Reads only; the bytes go on unchanged.
/// </summary>
internal sealed class PgMessageFramer(Action<char, ReadOnlySpan<byte>> onMessage)
{
    private const int Kept = 1024;

    private readonly byte[] _header = new byte[5];
    private int _headerFill;
    private int _bodyLeft = -1; // -1: reading a header
    private readonly byte[] _body = new byte[Kept];
    private int _bodyFill;
    private int _singleBytes;

    /// <summary>
    /// Messages without a type byte, as the client sends before its startup message (SSLRequest, GSSENCRequest,
    /// CancelRequest, StartupMessage); they are reported with type <c>'\0'</c>.
    /// </summary>
    public bool Untyped { get; set; }

    /// <summary>TLS or GSS encryption began: nothing more can be read.</summary>
    public bool Opaque { get; set; }

    /// <summary>The server answers SSLRequest and GSSENCRequest with one byte, reported as a message of that type.</summary>
    public void ExpectSingleByte() => Interlocked.Increment(ref _singleBytes);

    public void Feed(ReadOnlySpan<byte> data)
    {
        while (data.Length > 0 && !Opaque)
        {
            if (_bodyLeft < 0)
            {
                if (_headerFill == 0 && Volatile.Read(ref _singleBytes) > 0)
                {
                    Interlocked.Decrement(ref _singleBytes);
                    var b = data[0];
                    data = data[1..];
                    onMessage((char)b, default);
                    continue;
                }
                var size = Untyped ? 4 : 5;
                var take = Math.Min(size - _headerFill, data.Length);
                data[..take].CopyTo(_header.AsSpan(_headerFill));
                _headerFill += take;
                data = data[take..];
                if (_headerFill < size) return;
                _bodyLeft = BinaryPrimitives.ReadInt32BigEndian(_header.AsSpan(size - 4)) - 4;
                _bodyFill = 0;
            }
            var n = Math.Min(_bodyLeft, data.Length);
            var keep = Math.Min(n, Kept - _bodyFill);
            data[..keep].CopyTo(_body.AsSpan(_bodyFill));
            _bodyFill += keep;
            _bodyLeft -= n;
            data = data[n..];
            if (_bodyLeft > 0) return;
            var type = _headerFill == 4 ? '\0' : (char)_header[0];
            _headerFill = 0;
            _bodyLeft = -1;
            onMessage(type, _body.AsSpan(0, _bodyFill));
        }
    }

    /// <summary>The zero-terminated strings at the start of a message body (the last one may be cut short).</summary>
    public static List<string> Strings(ReadOnlySpan<byte> body, int max)
    {
        var strings = new List<string>();
        while (strings.Count < max && body.Length > 0)
        {
            var end = body.IndexOf((byte)0);
            strings.Add(Encoding.UTF8.GetString(end < 0 ? body : body[..end]));
            if (end < 0) break;
            body = body[(end + 1)..];
        }
        return strings;
    }
}
