namespace PgMultiMaster.Diagnostics;

/// <summary>A row's key values as text, in key order, compared value by value (a table without a key: its row text).</summary>
public sealed class RowKey(IReadOnlyList<string> values) : IEquatable<RowKey>
{
    public IReadOnlyList<string> Values { get; } = values;

    public bool Equals(RowKey? other) => other is not null && Values.SequenceEqual(other.Values, StringComparer.Ordinal);

    public override bool Equals(object? obj) => obj is RowKey other && Equals(other);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        foreach (var v in Values) hash.Add(v, StringComparer.Ordinal);
        return hash.ToHashCode();
    }

    /// <summary><c>id=17</c>, or <c>(a, b)=(1, x)</c> for a key of several columns.</summary>
    public string Describe(IReadOnlyList<string> columns) => columns.Count switch
    {
        0 => Values.Count == 1 ? Values[0] : string.Join(", ", Values),
        1 => $"{columns[0]}={Values[0]}",
        _ => $"({string.Join(", ", columns)})=({string.Join(", ", Values)})",
    };

    public override string ToString() => string.Join(", ", Values);
}
