using System.Buffers.Binary;
using System.Text;
using PgMultiMaster.Membership;

namespace PgMultiMaster.Tests.Membership;

/// <summary>
/// Counting the rows of a COPY stream chunk by chunk: binary streams built by hand to the format PostgreSQL documents
/// (signature, flags, header extension, tuples of a field count and length-prefixed fields, trailer -1), cut at every
/// place a chunk can end; text streams by their newlines.
/// </summary>
public sealed class CopyRowCounterTests
{
    private static readonly byte[] Signature = [.. "PGCOPY\n"u8, 0xFF, (byte)'\r', (byte)'\n', 0]; // PGCOPY\n\377\r\n\0

    /// <summary>A binary COPY stream, and for each tuple the offset just past its field count (where the counter can know of it).</summary>
    private static (byte[] Bytes, int[] TupleAt) Binary(byte[]? extension, params byte[]?[][] tuples)
    {
        var s = new MemoryStream();
        void Int16(short v) { Span<byte> b = stackalloc byte[2]; BinaryPrimitives.WriteInt16BigEndian(b, v); s.Write(b); }
        void Int32(int v) { Span<byte> b = stackalloc byte[4]; BinaryPrimitives.WriteInt32BigEndian(b, v); s.Write(b); }
        Assert.Equal(11, Signature.Length);
        s.Write(Signature);
        Int32(0); // flags
        Int32(extension?.Length ?? 0);
        if (extension is not null) s.Write(extension);
        var at = new List<int>();
        foreach (var fields in tuples)
        {
            Int16((short)fields.Length);
            at.Add((int)s.Length);
            foreach (var field in fields)
            {
                if (field is null) { Int32(-1); continue; }
                Int32(field.Length);
                s.Write(field);
            }
        }
        Int16(-1); // trailer
        return (s.ToArray(), at.ToArray());
    }

    private static byte[] Int4(int v) { var b = new byte[4]; BinaryPrimitives.WriteInt32BigEndian(b, v); return b; }
    private static byte[] Text(string v) => Encoding.UTF8.GetBytes(v);

    /// <summary>Rows that look like a table of (id int4, name text, note text): NULLs, empty strings, one-byte values, bytes that read like the trailer or a newline.</summary>
    private static byte[]?[][] SomeTuples() =>
    [
        [Int4(1), Text("east"), null],
        [Int4(6), [0x01], [0x00]],                   // one-byte fields (a bool), the second reading like half a field count
        [Int4(2), Text(""), Text("a\nb")],
        [Int4(-1), null, null],                      // an int4 of -1 is not a NULL: its length is 4
        [Int4(unchecked((int)0xFFFF_FFFF)), [0xFF, 0xFF], Text("\\.")], // data that reads like the trailer and the text end marker
        [Int4(5), Text(new string('x', 300)), Text("é")],
    ];

    private static readonly byte[] Extension = [0xFF, 0xFF, 0x00, 0x05, (byte)'\n', 0x00, 0x01, 0xFF, 0xFF]; // reads like a field count, a trailer, a newline

    public static TheoryData<string> Streams() => ["no extension", "an extension", "no tuples", "zero-column tuples"];

    private static (byte[] Bytes, int[] TupleAt) Stream(string name) => name switch
    {
        "no extension" => Binary(null, SomeTuples()),
        "an extension" => Binary(Extension, SomeTuples()),
        "no tuples" => Binary(Extension),
        "zero-column tuples" => Binary(null, [], [], []), // COPY of a table without columns: a field count of 0 per row
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    private static long Count(ReadOnlySpan<byte> stream, int chunk)
    {
        var counter = new CopyRowCounter(binary: true);
        for (var at = 0; at < stream.Length; at += chunk) counter.Add(stream[at..Math.Min(at + chunk, stream.Length)]);
        return counter.Rows;
    }

    [Theory]
    [MemberData(nameof(Streams))]
    public void Binary_rows_are_counted_whatever_the_chunk_size(string name)
    {
        var (bytes, tuples) = Stream(name);
        for (var chunk = 1; chunk <= bytes.Length + 1; chunk++)
            Assert.True(tuples.Length == Count(bytes, chunk), $"{name}: {Count(bytes, chunk)} rows in chunks of {chunk} bytes, not {tuples.Length}");
    }

    [Theory]
    [MemberData(nameof(Streams))]
    public void Binary_rows_are_counted_when_the_stream_is_cut_in_three_anywhere(string name)
    {
        var (bytes, tuples) = Stream(name);
        for (var i = 0; i <= bytes.Length; i++)
        for (var j = i; j <= bytes.Length; j++)
        {
            var counter = new CopyRowCounter(binary: true);
            counter.Add(bytes.AsSpan(0, i));
            counter.Add(bytes.AsSpan(i, j - i)); // empty when i == j
            counter.Add(bytes.AsSpan(j));
            if (counter.Rows != tuples.Length) Assert.Fail($"{name}: cut at {i} and {j}: {counter.Rows} rows, not {tuples.Length}");
        }
    }

    [Theory]
    [MemberData(nameof(Streams))]
    public void A_row_counts_as_soon_as_its_field_count_has_arrived_and_not_before(string name)
    {
        var (bytes, tuples) = Stream(name);
        var counter = new CopyRowCounter(binary: true);
        for (var i = 0; i < bytes.Length; i++)
        {
            counter.Add(bytes.AsSpan(i, 1));
            Assert.Equal(tuples.Count(at => at <= i + 1), counter.Rows);
        }
    }

    [Fact]
    public void A_field_longer_than_a_chunk_is_passed_over()
    {
        // Larger than TablePipe's 64 kB chunks, and than an int16.
        var big = new byte[200_000];
        Array.Fill(big, (byte)0xFF); // would read as trailers if the counter lost its place
        var (bytes, tuples) = Binary(null, [Int4(1), big], [Int4(2), null], [Int4(3), big, big]);
        Assert.Equal(3, tuples.Length);
        foreach (var chunk in new[] { 1, 7, 4096, 65536, 199_999, 200_000, 200_001, bytes.Length })
            Assert.Equal(3, Count(bytes, chunk));
    }

    [Fact]
    public void Bytes_after_the_trailer_are_not_rows()
    {
        var (bytes, _) = Binary(null, [Int4(1)], [Int4(2)]);
        var counter = new CopyRowCounter(binary: true);
        counter.Add(bytes);
        counter.Add(bytes.AsSpan(19)); // the tuples again: ignored, the stream has ended
        counter.Add("\n\n"u8);
        Assert.Equal(2, counter.Rows);
    }

    [Fact]
    public void An_incomplete_stream_counts_the_rows_begun_so_far()
    {
        var (bytes, tuples) = Binary(null, SomeTuples());
        var counter = new CopyRowCounter(binary: true);
        counter.Add(bytes.AsSpan(0, tuples[2] + 3)); // into the third tuple's first field length
        Assert.Equal(3, counter.Rows);
        counter.Add(bytes.AsSpan(tuples[2] + 3));
        Assert.Equal(tuples.Length, counter.Rows);
    }

    [Fact]
    public void Nothing_fed_is_no_rows()
    {
        Assert.Equal(0, new CopyRowCounter(binary: true).Rows);
        var counter = new CopyRowCounter(binary: true);
        counter.Add([]);
        counter.Add(Signature);
        Assert.Equal(0, counter.Rows);
    }

    // Text format: one line per row; a newline inside a value is written as the two characters \n.
    private const string TextCopy = "1\teast\t\\N\n2\t\ta\\nb\n3\tnörth\t\\\\n\n4\t\\r\\n\t\\.\n";

    [Fact]
    public void Text_rows_are_counted_by_newline_whatever_the_chunk_size_as_characters()
    {
        for (var chunk = 1; chunk <= TextCopy.Length + 1; chunk++)
        {
            var counter = new CopyRowCounter(binary: false);
            for (var at = 0; at < TextCopy.Length; at += chunk) counter.AddText(TextCopy.AsSpan(at, Math.Min(chunk, TextCopy.Length - at)));
            Assert.Equal(4, counter.Rows);
        }
    }

    [Fact]
    public void Text_rows_are_counted_by_newline_whatever_the_chunk_size_as_bytes()
    {
        var bytes = Encoding.UTF8.GetBytes(TextCopy); // the ö is two bytes: some chunks end inside it
        for (var chunk = 1; chunk <= bytes.Length + 1; chunk++)
            Assert.Equal(4, CountText(bytes, chunk));
    }

    private static long CountText(byte[] bytes, int chunk)
    {
        var counter = new CopyRowCounter(binary: false);
        for (var at = 0; at < bytes.Length; at += chunk) counter.Add(bytes.AsSpan(at, Math.Min(chunk, bytes.Length - at)));
        return counter.Rows;
    }

    [Fact]
    public void Text_counts_as_it_goes_and_a_binary_looking_stream_is_just_text()
    {
        var counter = new CopyRowCounter(binary: false);
        counter.AddText("1\ta");
        Assert.Equal(0, counter.Rows);
        counter.AddText("\n2\tb\n3");
        Assert.Equal(2, counter.Rows);
        counter.Add("\tc\n"u8);
        Assert.Equal(3, counter.Rows);
        // A text counter does not read a binary header: the signature's \n and \r\n are newlines to it.
        var text = new CopyRowCounter(binary: false);
        text.Add(Signature);
        Assert.Equal(2, text.Rows);
        // And a binary counter does not count newlines.
        var (bytes, _) = Binary(null, [Text("\n\n\n")]);
        var binary = new CopyRowCounter(binary: true);
        binary.Add(bytes);
        Assert.Equal(1, binary.Rows);
    }
}
