using System.Globalization;
using System.Text;

namespace PgMultiMaster.Diagnostics;

/// <summary>The row diff of one table: its key, its row count per node and every key whose rows differ.</summary>
/// <param name="Problem">Why the rows could not be compared (the table is missing on a node, its columns or key differ
/// between nodes); the table then counts as different.</param>
/// <param name="RangesHashed">How many key ranges were hashed on every node, and <paramref name="RowsFetched"/> how many
/// rows were read in full: the work the diff took.</param>
public sealed record TableRowDiff(string Table, IReadOnlyList<string> KeyColumns, IReadOnlyList<long?> Rows,
    IReadOnlyList<KeyDifference> Differences, string? Problem = null, int RangesHashed = 0, long RowsFetched = 0)
{
    public bool Matches => Problem is null && Differences.Count == 0;
}

/// <summary><c>pgmm diff --rows</c>: per table, the keys whose rows differ between the nodes.</summary>
public sealed record RowDiffReport(IReadOnlyList<string> Nodes, IReadOnlyList<TableRowDiff> Tables)
{
    /// <summary>How much of a row's text is shown.</summary>
    public const int ShownRowText = 40;

    public bool AllMatch => Tables.All(t => t.Matches);

    /// <summary>Per table a line, then per differing key what each node has; a summary line at the end.</summary>
    public string Render()
    {
        var sb = new StringBuilder();
        foreach (var t in Tables)
        {
            var rows = string.Join(", ", Nodes.Select((n, i) => $"{n} {(t.Rows[i] is { } r ? r.ToString(CultureInfo.InvariantCulture) : "-")}"));
            var key = t.KeyColumns.Count == 0 ? "no key: whole rows" : $"key {string.Join(", ", t.KeyColumns)}";
            if (t.Problem is not null)
            {
                sb.AppendLine(CultureInfo.InvariantCulture, $"{t.Table}: not compared: {t.Problem}");
                continue;
            }
            if (t.Differences.Count == 0)
            {
                sb.AppendLine(CultureInfo.InvariantCulture, $"{t.Table}: all rows match ({key}; rows: {rows})");
                continue;
            }
            sb.AppendLine(CultureInfo.InvariantCulture, $"{t.Table}: {Count(t.Differences.Count, "key differs", "keys differ")} ({key}; rows: {rows})");
            var headers = new List<string> { t.KeyColumns.Count == 0 ? "row" : "key" };
            headers.AddRange(Nodes);
            var lines = t.Differences.Select(d =>
            {
                var cells = new List<string> { Abbreviate(d.Key.Describe(t.KeyColumns)) };
                cells.AddRange(d.PerNode.Select(v => Cell(v, t.KeyColumns.Count == 0)));
                return cells;
            }).ToList();
            Table(sb, headers, lines);
            var kinds = t.Differences.GroupBy(d => d.Kind).OrderBy(g => g.Key)
                .Select(g => $"{g.Count()} {g.Key switch { DifferenceKind.Missing => "missing on some node", DifferenceKind.Differs => "differ", _ => "missing on some node and differ" }}");
            sb.AppendLine(CultureInfo.InvariantCulture, $"  {string.Join(", ", kinds)}");
        }
        var differing = Tables.Where(t => !t.Matches).ToList();
        sb.AppendLine(differing.Count == 0
            ? $"All rows of {Count(Tables.Count, "table", "tables")} match on all {Nodes.Count} nodes."
            : $"{Count(differing.Count, "table differs", "tables differ")}: " +
              string.Join(", ", differing.Select(t => t.Problem is null ? $"{t.Table} ({t.Differences.Count})" : $"{t.Table} (not compared)")) + ".");
        return sb.ToString();
    }

    // A node's row: "missing", or its text (abbreviated); of a table without a key, how many copies it holds.
    private static string Cell(RowVersion? v, bool keyless)
    {
        if (v is null) return "missing";
        if (keyless) return v.Copies == 1 ? "1 copy" : $"{v.Copies} copies";
        return Abbreviate(v.Text);
    }

    private static string Abbreviate(string text) => text.Length <= ShownRowText ? text : text[..(ShownRowText - 1)] + "…";

    private static string Count(int n, string one, string many) => $"{n} {(n == 1 ? one : many)}";

    private static void Table(StringBuilder sb, List<string> headers, List<List<string>> lines)
    {
        var widths = headers.Select((h, i) => Math.Max(h.Length, lines.Max(l => l[i].Length))).ToList();
        string Row(IReadOnlyList<string> cells) => "  " + string.Join(" | ", cells.Select((c, i) => c.PadRight(widths[i]))).TrimEnd();
        sb.AppendLine(Row(headers));
        sb.AppendLine("  " + string.Join("-+-", widths.Select(w => new string('-', w))));
        foreach (var l in lines) sb.AppendLine(Row(l));
    }
}
