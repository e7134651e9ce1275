using System.Text.RegularExpressions;

namespace PgMultiMaster.Setup;

/// <summary>
/// A configured table name or pattern, <c>schema.table</c>, where <c>*</c> matches any part of a name and
/// double quotes around a part are optional (<c>public."Order Items"</c>). Names match exactly, case included.
/// </summary>
public sealed class TablePattern
{
    private readonly Regex _schema;
    private readonly Regex _table;

    public string Text { get; }
    public bool IsWildcard { get; }

    public TablePattern(string text)
    {
        Text = text;
        var dot = text.IndexOf('.', StringComparison.Ordinal);
        if (dot <= 0 || dot == text.Length - 1)
            throw new ArgumentException($"'{text}' is not schema.table.", nameof(text));
        IsWildcard = text.Contains('*', StringComparison.Ordinal);
        _schema = ToRegex(text[..dot]);
        _table = ToRegex(text[(dot + 1)..]);
    }

    public bool Matches(string schema, string table) => _schema.IsMatch(schema) && _table.IsMatch(table);

    private static Regex ToRegex(string part)
    {
        if (part.Length >= 2 && part[0] == '"' && part[^1] == '"') part = part[1..^1].Replace("\"\"", "\"", StringComparison.Ordinal);
        return new Regex("^" + string.Join(".*", part.Split('*').Select(Regex.Escape)) + "$", RegexOptions.CultureInvariant);
    }
}
