using System.Buffers.Binary;
using System.Text;
using PgMultiMaster.Decoding;

namespace PgMultiMaster.Micro;

/// <summary>pgoutput messages (protocol version 1) as a server sends them, for the decoding benchmark.</summary>
internal static class PgOutput
{
    public static byte[] Relation(RelationInfo relation)
    {
        var m = new List<byte> { (byte)'R' };
        U32(m, relation.Id);
        Str(m, relation.Schema);
        Str(m, relation.Name);
        m.Add((byte)'d');
        U16(m, (ushort)relation.Columns.Length);
        foreach (var c in relation.Columns)
        {
            m.Add(c.IsKey ? (byte)1 : (byte)0);
            Str(m, c.Name);
            U32(m, c.TypeOid);
            U32(m, uint.MaxValue);
        }
        return [.. m];
    }

    /// <summary>An Insert ('I') or an Update without old values ('U') of one row of text values.</summary>
    public static byte[] Change(char kind, uint relationId, string[] values)
    {
        var m = new List<byte> { (byte)kind };
        U32(m, relationId);
        m.Add((byte)'N');
        U16(m, (ushort)values.Length);
        foreach (var v in values)
        {
            var utf8 = Encoding.UTF8.GetBytes(v);
            m.Add((byte)'t');
            U32(m, (uint)utf8.Length);
            m.AddRange(utf8);
        }
        return [.. m];
    }

    private static void U16(List<byte> m, ushort v) { var b = new byte[2]; BinaryPrimitives.WriteUInt16BigEndian(b, v); m.AddRange(b); }
    private static void U32(List<byte> m, uint v) { var b = new byte[4]; BinaryPrimitives.WriteUInt32BigEndian(b, v); m.AddRange(b); }
    private static void Str(List<byte> m, string s) { m.AddRange(Encoding.UTF8.GetBytes(s)); m.Add(0); }
}
