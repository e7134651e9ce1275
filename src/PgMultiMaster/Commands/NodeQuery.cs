using System.Globalization;
using Npgsql;
using PgMultiMaster.Configuration;
using PgMultiMaster.Sql;

namespace PgMultiMaster.Cli.Commands;

/// <summary>Runs a query on every node (or the one named by --on) and prints the rows as one table.</summary>
internal static class NodeQuery
{
    public static IEnumerable<NodeOptions> Nodes(PgMultiMasterOptions options, string? only)
    {
        if (only is not null && options.Nodes.All(n => n.Name != only))
            throw new CliException($"--on {only}: no such node (one of {string.Join(", ", options.Nodes.Select(n => n.Name))}).");
        return options.Nodes.Where(n => only is null || n.Name == only);
    }

    public static Task<NpgsqlConnection> OpenAsync(NodeOptions node, CancellationToken ct) =>
        ConnectionStrings.OpenAdminAsync(node.ConnectionString, "pgmm cli", ct);

    /// <summary>Every column as text, after the node's name: rows to print, whatever the query.</summary>
    public static async Task<List<string[]>> RowsAsync(NodeOptions node, string sql, IEnumerable<object?> args, CancellationToken ct)
    {
        await using var conn = await OpenAsync(node, ct);
        await using var cmd = new NpgsqlCommand(sql, conn);
        foreach (var a in args) cmd.Parameters.Add(new NpgsqlParameter { Value = a ?? DBNull.Value });
        await using var r = await cmd.ExecuteReaderAsync(ct);
        var rows = new List<string[]>();
        while (await r.ReadAsync(ct))
            rows.Add([node.Name, .. Enumerable.Range(0, r.FieldCount).Select(i => r.IsDBNull(i) ? "" : Format(r.GetValue(i)))]);
        return rows;
    }

    private static string Format(object value) => value switch
    {
        DateTime d => d.ToString("yyyy-MM-dd HH:mm:ss.fff", CultureInfo.InvariantCulture),
        _ => Convert.ToString(value, CultureInfo.InvariantCulture) ?? "",
    };

    public static void Print(IReadOnlyList<string> headers, IReadOnlyList<string[]> rows, int maxWidth = 60)
    {
        string Cut(string s) => s.Length > maxWidth ? s[..(maxWidth - 1)] + "…" : s;
        var cells = rows.Select(r => r.Select(Cut).ToArray()).ToList();
        var widths = headers.Select((h, i) => Math.Max(h.Length, cells.Count == 0 ? 0 : cells.Max(r => r[i].Length))).ToList();
        Console.WriteLine(string.Join(" | ", headers.Select((h, i) => h.PadRight(widths[i]))).TrimEnd());
        Console.WriteLine(string.Join("-+-", widths.Select(w => new string('-', w))));
        foreach (var r in cells) Console.WriteLine(string.Join(" | ", r.Select((c, i) => c.PadRight(widths[i]))).TrimEnd());
    }

    /// <summary>"90s", "15m", "2h", "3d", or a timestamp.</summary>
    public static DateTime? Since(string? text)
    {
        if (string.IsNullOrEmpty(text)) return null;
        if (text.Length > 1 && double.TryParse(text[..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out var n))
        {
            var span = text[^1] switch { 's' => TimeSpan.FromSeconds(n), 'm' => TimeSpan.FromMinutes(n), 'h' => TimeSpan.FromHours(n), 'd' => TimeSpan.FromDays(n), _ => (TimeSpan?)null };
            if (span is not null) return DateTime.UtcNow - span.Value;
        }
        if (DateTime.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var at)) return at;
        throw new CliException($"--since '{text}': give a duration like 30m, 2h, 1d or a timestamp.");
    }
}
