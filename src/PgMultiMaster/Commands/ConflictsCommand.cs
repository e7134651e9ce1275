using PgMultiMaster.Conflicts;

namespace PgMultiMaster.Cli.Commands;

/// <summary><c>pgmm conflicts</c>: recent conflicts on every node, newest first.</summary>
internal static class ConflictsCommand
{
    public static async Task<int> RunAsync(CliArgs args, CancellationToken ct)
    {
        var options = args.LoadOptions(requireNode: false);
        var config = args.LoadConfiguration();
        var type = config["Query:Type"];
        if (type is not null && ConflictTypeNames.Parse(type) is null)
            throw new CliException($"--type {type}: unknown conflict type (one of {string.Join(", ", ConflictTypeNames.All)}).");
        var limit = int.TryParse(config["Query:Limit"], out var l) && l > 0 ? l : 50;
        const string sql = """
            SELECT logged_at, conflict_type, table_name, key::text, resolution, remote_origin, remote_commit_ts, local_origin, rule
            FROM pgmm.conflict_log
            WHERE ($1::text IS NULL OR table_name = $1) AND ($2::text IS NULL OR conflict_type = $2) AND ($3::timestamptz IS NULL OR logged_at >= $3)
            ORDER BY logged_at DESC LIMIT $4
            """;
        var rows = new List<string[]>();
        foreach (var node in NodeQuery.Nodes(options, config))
            rows.AddRange(await NodeQuery.RowsAsync(node, sql, [config["Query:Table"], type, NodeQuery.Since(config["Query:Since"]), limit], ct));
        rows = rows.OrderByDescending(r => r[1], StringComparer.Ordinal).Take(limit).ToList();
        NodeQuery.Print(["node", "logged at", "type", "table", "key", "resolution", "from", "remote commit", "local origin", "rule"], rows);
        Console.WriteLine($"{rows.Count} conflict(s).");
        return 0;
    }
}
