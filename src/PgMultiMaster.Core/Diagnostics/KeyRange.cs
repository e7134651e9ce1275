namespace PgMultiMaster.Diagnostics;

/// <summary>
/// A stretch of a table's key space in key order: keys above <see cref="Lower"/> up to and including
/// <see cref="Upper"/>; null bounds are open. Bounds are key values as text (in key-column order), taken from one node
/// and compared on every node by the key columns' own ordering, so a range holds the same keys everywhere.
/// </summary>
/// <param name="Path">Where the range lies among its siblings at every level, sortable as text: differences print in
/// key order.</param>
public sealed record KeyRange(IReadOnlyList<string>? Lower, IReadOnlyList<string>? Upper, string Path)
{
    /// <summary>The whole key space.</summary>
    public static KeyRange All { get; } = new(null, null, "");

    /// <summary>
    /// This range cut at <paramref name="boundaries"/> (keys inside it, ascending): each boundary ends one part, and
    /// the last part runs to this range's own end. A boundary equal to the upper bound adds no empty part.
    /// </summary>
    public IReadOnlyList<KeyRange> Split(IReadOnlyList<IReadOnlyList<string>> boundaries)
    {
        var cuts = boundaries.ToList();
        if (cuts.Count > 0 && Upper is not null && cuts[^1].SequenceEqual(Upper, StringComparer.Ordinal)) cuts.RemoveAt(cuts.Count - 1);
        var parts = new List<KeyRange>(cuts.Count + 1);
        var lower = Lower;
        var width = (cuts.Count + 1).ToString(System.Globalization.CultureInfo.InvariantCulture).Length;
        for (var i = 0; i <= cuts.Count; i++)
        {
            var upper = i < cuts.Count ? cuts[i] : Upper;
            parts.Add(new KeyRange(lower, upper, Path + "." + i.ToString(System.Globalization.CultureInfo.InvariantCulture).PadLeft(width, '0')));
            lower = upper;
        }
        return parts;
    }

    /// <summary>
    /// Into how many parts to cut a range whose largest node holds <paramref name="rows"/> rows, so that parts reach
    /// <paramref name="leafRows"/> in as few rounds as possible: at least 2, at most <paramref name="maxFanout"/>.
    /// </summary>
    public static int Fanout(long rows, int leafRows, int maxFanout) =>
        (int)Math.Clamp((rows + leafRows - 1) / leafRows, 2, maxFanout);

    /// <summary>Every how many keys (in key order, on the largest node) a boundary falls, for <paramref name="parts"/> parts.</summary>
    public static long Step(long rows, int parts) => Math.Max(1, (rows + parts - 1) / parts);

    /// <summary>
    /// The condition that a row of alias <paramref name="alias"/> lies in this range, for key columns
    /// <paramref name="keyColumns"/> (quoted) of <paramref name="keyTypes"/>; bound values are added to
    /// <paramref name="parameters"/> and cast in the SQL.
    /// </summary>
    public string Condition(IReadOnlyList<string> keyColumns, IReadOnlyList<string> keyTypes, List<string> parameters)
    {
        var parts = new List<string>(2);
        if (Lower is not null) parts.Add(Compare(">", Lower));
        if (Upper is not null) parts.Add(Compare("<=", Upper));
        return parts.Count == 0 ? "true" : string.Join(" AND ", parts);

        string Compare(string op, IReadOnlyList<string> bound)
        {
            var values = bound.Select((v, i) =>
            {
                parameters.Add(v);
                return $"${parameters.Count}::{keyTypes[i]}";
            }).ToList();
            // One column: a plain comparison. Several: a row comparison, which orders as the key's index does and
            // which that index serves.
            return keyColumns.Count == 1
                ? $"{keyColumns[0]} {op} {values[0]}"
                : $"ROW({string.Join(", ", keyColumns)}) {op} ROW({string.Join(", ", values)})";
        }
    }
}
