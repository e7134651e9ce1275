using System.Buffers.Binary;
using System.Text;
using PgMultiMaster.Decoding;

namespace PgMultiMaster.Tests.Decoding;

/// <summary>
/// pgoutput messages built byte by byte as PostgreSQL documents them ("Logical Replication Message Formats",
/// protocol version 1). The integration tests decode what real servers send; these pin the edge cases.
/// </summary>
public sealed class ChangeDecoderTests
{
    private static readonly DateTime Commit = new(2026, 11, 28, 17, 30, 0, 123, 456, DateTimeKind.Utc);

    [Fact]
    public void A_transaction_decodes_to_begin_origin_relation_changes_and_commit()
    {
        var decoder = new ChangeDecoder();

        var begin = Assert.IsType<TransactionBegin>(decoder.Decode(Msg('B').U64(0x1_0000_0100).Time(Commit).U32(742).Bytes));
        Assert.Equal(new TransactionBegin(0x1_0000_0100, Commit, 742), begin);

        var origin = Assert.IsType<TransactionOrigin>(decoder.Decode(Msg('O').U64(5).Str("pgmm_east").Bytes));
        Assert.Equal("pgmm_east", origin.OriginName);

        var relation = Assert.IsType<RelationChanged>(decoder.Decode(Relation(16384, "public", "accounts", 'd'))).Relation;
        Assert.Equal("public.accounts", relation.QualifiedName);
        Assert.Equal(ReplicaIdentity.Default, relation.Identity);
        Assert.Equal([new ColumnInfo("id", 23, true), new ColumnInfo("note", 25, false), new ColumnInfo("doc", 3802, false)], relation.Columns.ToArray());

        // A value with multi-byte UTF-8, a NULL, and an empty string (not NULL).
        var insert = Assert.IsType<RowChange>(decoder.Decode(Msg('I').U32(16384).Ch('N').Tuple("7", null, "Zürich ✓").Bytes));
        Assert.Equal(ChangeKind.Insert, insert.Kind);
        Assert.Same(relation, insert.Relation);
        Assert.Null(insert.Old);
        Assert.Equal([Cell.Of("7"), Cell.Null, Cell.Of("Zürich ✓")], insert.New!);
        var empty = Assert.IsType<RowChange>(decoder.Decode(Msg('I').U32(16384).Ch('N').Tuple("8", "", null).Bytes));
        Assert.Equal(Cell.Of(""), empty.New![1]);

        var commit = Assert.IsType<TransactionCommit>(decoder.Decode(Msg('C').Ch('\0').U64(0x1_0000_0100).U64(0x1_0000_0130).Time(Commit).Bytes));
        Assert.Equal(new TransactionCommit(0x1_0000_0100, 0x1_0000_0130, Commit), commit);
    }

    [Fact]
    public void Updates_carry_the_old_key_or_old_row_when_sent_and_unchanged_toast_stays_unchanged()
    {
        var decoder = new ChangeDecoder();
        decoder.Decode(Relation(1, "app", "docs", 'f'));

        var plain = (RowChange)decoder.Decode(Msg('U').U32(1).Ch('N').Tuple("1", "a", Unchanged).Bytes)!;
        Assert.Null(plain.Old);
        Assert.True(plain.New![2].IsUnchanged);

        var keyChanged = (RowChange)decoder.Decode(Msg('U').U32(1).Ch('K').Tuple("1", null, null).Ch('N').Tuple("2", "a", "{}").Bytes)!;
        Assert.Equal(Cell.Of("1"), keyChanged.Old![0]);
        Assert.Equal(Cell.Of("2"), keyChanged.New![0]);

        var full = (RowChange)decoder.Decode(Msg('U').U32(1).Ch('O').Tuple("2", "a", "{}").Ch('N').Tuple("2", "b", "{}").Bytes)!;
        Assert.Equal([Cell.Of("2"), Cell.Of("a"), Cell.Of("{}")], full.Old!);
        Assert.Equal(ReplicaIdentity.Full, full.Relation.Identity);

        var delete = (RowChange)decoder.Decode(Msg('D').U32(1).Ch('K').Tuple("2", null, null).Bytes)!;
        Assert.Equal(ChangeKind.Delete, delete.Kind);
        Assert.Null(delete.New);
        Assert.Equal(Cell.Of("2"), delete.Old![0]);
    }

    [Fact]
    public void Truncate_names_its_relations_and_options_and_type_messages_carry_nothing_to_apply()
    {
        var decoder = new ChangeDecoder();
        decoder.Decode(Relation(1, "", "a", 'd'));
        decoder.Decode(Relation(2, "public", "b", 'd'));

        var truncate = Assert.IsType<TableTruncate>(decoder.Decode(Msg('T').U32(2).Ch('\u0003').U32(1).U32(2).Bytes));
        Assert.Equal(["pg_catalog.a", "public.b"], truncate.Relations.Select(r => r.QualifiedName));
        Assert.True(truncate.Cascade);
        Assert.True(truncate.RestartIdentity);

        Assert.Null(decoder.Decode(Msg('Y').U32(90210).Str("public").Str("mood").Bytes));
    }

    [Fact]
    public void A_redefined_relation_replaces_the_old_shape_for_later_changes()
    {
        var decoder = new ChangeDecoder();
        decoder.Decode(Relation(1, "public", "t", 'd'));
        decoder.Decode(Msg('R').U32(1).Str("public").Str("t").Ch('d').U16(1).Ch('\u0001').Str("id").U32(20).U32(uint.MaxValue).Bytes);

        var insert = (RowChange)decoder.Decode(Msg('I').U32(1).Ch('N').Tuple("9").Bytes)!;
        Assert.Equal([new ColumnInfo("id", 20, true)], insert.Relation.Columns.ToArray());
    }

    [Fact]
    public void Bad_input_names_what_is_wrong_and_where()
    {
        var decoder = new ChangeDecoder();

        var unknownRelation = Assert.Throws<InvalidDataException>(() => decoder.Decode(Msg('I').U32(77).Ch('N').Tuple("1").Bytes));
        Assert.Contains("relation 77 before describing it", unknownRelation.Message);

        decoder.Decode(Relation(1, "public", "t", 'd'));
        var cut = Assert.Throws<InvalidDataException>(() => decoder.Decode(Msg('I').U32(1).Ch('N').Tuple("12345")[..^2]));
        Assert.Equal("pgoutput 'I' message ends at byte 16; 5 more bytes were due at byte 13.", cut.Message);

        var badColumn = Assert.Throws<InvalidDataException>(() => decoder.Decode(Msg('I').U32(1).Ch('N').U16(1).Ch('b').Bytes));
        Assert.Equal("pgoutput 'I' message has 'b' at byte 8 where a text, null or unchanged-TOAST column ('t', 'n', 'u') belongs.", badColumn.Message);

        var unknown = Assert.Throws<InvalidDataException>(() => decoder.Decode(Msg('S').U32(1).Bytes));
        Assert.Contains("unknown type 'S'", unknown.Message);
        Assert.Throws<InvalidDataException>(() => decoder.Decode([]));
    }

    [Fact]
    public void Text_that_is_not_UTF8_is_an_error_never_a_replacement_character()
    {
        var decoder = new ChangeDecoder();
        decoder.Decode(Relation(1, "public", "t", 'd'));
        // 'Z', then 0xFC: ü in Latin-1, no UTF-8 at all (as a SQL_ASCII database would send it).
        var latin1 = Msg('I').U32(1).Ch('N').U16(1).Ch('t').U32(2).Ch('Z').Ch('\u00FC').Bytes;
        Assert.Throws<System.Text.DecoderFallbackException>(() => decoder.Decode(latin1));
    }

    [Fact]
    public void Changes_of_a_transaction_the_link_skips_as_echo_are_not_read_and_relations_still_are()
    {
        var decoder = new ChangeDecoder(origin => origin == "pgmm_west");
        decoder.Decode(Relation(1, "public", "t", 'd'));

        decoder.Decode(Msg('B').U64(10).Time(Commit).U32(1).Bytes);
        Assert.IsType<TransactionOrigin>(decoder.Decode(Msg('O').U64(5).Str("pgmm_west").Bytes));
        Assert.Null(decoder.Decode(Msg('I').U32(1).Ch('N').Tuple("1", "a", "{}").Bytes));
        // Even one that would not parse: it is not read.
        Assert.Null(decoder.Decode(Msg('U').U32(1).Ch('X').Bytes));
        Assert.IsType<RelationChanged>(decoder.Decode(Relation(2, "public", "u", 'd')));
        Assert.IsType<TransactionCommit>(decoder.Decode(Msg('C').Ch('\0').U64(10).U64(20).Time(Commit).Bytes));

        // The next transaction, of another origin, is read again.
        decoder.Decode(Msg('B').U64(30).Time(Commit).U32(2).Bytes);
        decoder.Decode(Msg('O').U64(6).Str("other_tool").Bytes);
        Assert.IsType<RowChange>(decoder.Decode(Msg('I').U32(2).Ch('N').Tuple("1", "a", "{}").Bytes));
    }

    private const string Unchanged = "\0unchanged";

    private static byte[] Relation(uint id, string schema, string name, char identity) =>
        Msg('R').U32(id).Str(schema).Str(name).Ch(identity).U16(3)
            .Ch('\u0001').Str("id").U32(23).U32(uint.MaxValue)
            .Ch('\0').Str("note").U32(25).U32(uint.MaxValue)
            .Ch('\0').Str("doc").U32(3802).U32(uint.MaxValue).Bytes;

    private static MessageBuilder Msg(char kind) => new MessageBuilder().Ch(kind);

    private sealed class MessageBuilder
    {
        private readonly List<byte> _bytes = [];
        public byte[] Bytes => [.. _bytes];
        public byte[] this[Range range] => Bytes[range];

        public MessageBuilder Ch(char c) { _bytes.Add((byte)c); return this; }
        public MessageBuilder U16(ushort v) { Span<byte> b = stackalloc byte[2]; BinaryPrimitives.WriteUInt16BigEndian(b, v); _bytes.AddRange(b); return this; }
        public MessageBuilder U32(uint v) { Span<byte> b = stackalloc byte[4]; BinaryPrimitives.WriteUInt32BigEndian(b, v); _bytes.AddRange(b); return this; }
        public MessageBuilder U64(ulong v) { Span<byte> b = stackalloc byte[8]; BinaryPrimitives.WriteUInt64BigEndian(b, v); _bytes.AddRange(b); return this; }
        public MessageBuilder Str(string s) { _bytes.AddRange(Encoding.UTF8.GetBytes(s)); _bytes.Add(0); return this; }

        public MessageBuilder Time(DateTime t) =>
            U64((ulong)((t.Ticks - new DateTime(2000, 1, 1, 0, 0, 0, DateTimeKind.Utc).Ticks) / 10));

        public MessageBuilder Tuple(params string?[] values)
        {
            U16((ushort)values.Length);
            foreach (var v in values)
            {
                if (v is null) Ch('n');
                else if (v == Unchanged) Ch('u');
                else
                {
                    var utf8 = Encoding.UTF8.GetBytes(v);
                    Ch('t').U32((uint)utf8.Length);
                    _bytes.AddRange(utf8);
                }
            }
            return this;
        }
    }
}
