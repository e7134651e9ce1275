using System.Text;

namespace PgMultiMaster.Sql;

/// <summary>Identifier quoting: every identifier PgMultiMaster puts into SQL goes through here.</summary>
public static class Quote
{
    public static string Ident(string name) => "\"" + name.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    public static string Table(string schema, string table) => Ident(schema) + "." + Ident(table);

    /// <summary>A string literal, for the few places (DDL) where PostgreSQL accepts no parameters.</summary>
    public static string Literal(string value)
    {
        var sb = new StringBuilder(value.Length + 2);
        sb.Append('\'');
        foreach (var c in value)
        {
            if (c == '\0') throw new ArgumentException("NUL is not allowed in a SQL literal.", nameof(value));
            sb.Append(c);
            if (c == '\'') sb.Append('\'');
        }
        return sb.Append('\'').ToString();
    }
}
