using PgMultiMaster.Configuration;
using PgMultiMaster.Conflicts;

namespace PgMultiMaster.Cli.Commands;

/// <summary><c>pgmm conflicts</c>: recent conflicts on every node, newest first.</summary>
internal static class ConflictsCommand
{
    /// <summary>The flags: --on, --table, --type, --since, --limit.</summary>
    public sealed record Filter(string? On, string? Table, string? Type, string? Since, int Limit);

    public static async Task<int> RunAsync(CliConfiguration configuration, Filter filter, CancellationToken ct)
    {
        var options = configuration.LoadOptions(requireNode: false);
        var type = filter.Type;
        if (type is not null && ConflictTypeNames.Parse(type) is null)
            throw new CliException($"--type {type}: unknown conflict type (one of {string.Join(", ", ConflictTypeNames.All)}).");
        var limit = filter.Limit;
        const string sql = """
            SELECT logged_at, conflict_type, table_name, key::text, resolution, remote_origin, remote_commit_ts, local_origin, rule
            FROM pgmm.conflict_log
            WHERE ($1::text IS NULL OR table_name = $1) AND ($2::text IS NULL OR conflict_type = $2) AND ($3::timestamptz IS NULL OR logged_at >= $3)
            ORDER BY logged_at DESC LIMIT $4
            """;
        var rows = new List<string[]>();
        var since = NodeQuery.Since(filter.Since);
        foreach (var node in NodeQuery.Nodes(options, filter.On))
            rows.AddRange(await NodeQuery.RowsAsync(node, sql, [filter.Table, type, since, limit], ct));
        rows = rows.OrderByDescending(r => r[1], StringComparer.Ordinal).Take(limit).ToList();
        NodeQuery.Print(["node", "logged at", "type", "table", "key", "resolution", "from", "remote commit", "local origin", "rule"], rows);
        Console.WriteLine($"{rows.Count} conflict(s).");
        return 0;
    }
}
