using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Npgsql;
using PgMultiMaster.Decoding;

namespace PgMultiMaster.Apply;

/// <summary>
/// A schema change captured on its source node: a row of <c>pgmm.ddl_log</c> (sql/009_ddl.sql), whose INSERT arrives
/// in the change stream at exactly the place of the command in its transaction. Decides only; runs nothing
/// (<see cref="DdlApplier"/> does).
/// </summary>
/// <param name="Command">The statement as the client sent it on the source.</param>
/// <param name="SearchPath">The search_path it ran with.</param>
/// <param name="Role">The role that ran it.</param>
/// <param name="Tag">Its command tag, or <c>pgmm.replicate_ddl</c>.</param>
/// <param name="Object">The table it changed, schema-qualified, when known (event trigger capture).</param>
/// <param name="Shape">That table's columns and indexes on the source after the command (<c>pgmm.ddl_table_shape</c>), when known.</param>
public sealed partial record DdlCommand(string Command, string SearchPath, string Role, string Tag, string? Object, string? Shape)
{
    public const string LogSchema = "pgmm";
    public const string LogTable = "ddl_log";

    /// <summary>The relation is pgmm's DDL queue: its rows are commands to run, not rows to copy.</summary>
    public static bool IsLog(RelationInfo relation) => relation is { Schema: LogSchema, Name: LogTable };

    /// <summary>The command carried by an INSERT into <c>pgmm.ddl_log</c>.</summary>
    public static DdlCommand From(RowChange change)
    {
        string? Value(string column)
        {
            var i = -1;
            for (var c = 0; c < change.Relation.Columns.Length && i < 0; c++)
                if (change.Relation.Columns[c].Name == column) i = c;
            return i < 0 || change.New is null ? null : change.New[i].Text;
        }
        return new DdlCommand(
            Value("command") ?? throw new InvalidOperationException("a pgmm.ddl_log row without its command"),
            Value("search_path") ?? "pg_catalog", Value("role_name") ?? "", Value("tag") ?? "", Value("object"), Value("shape"));
    }

    [GeneratedRegex(@"^(\s*(?:CREATE\s+(?:UNIQUE\s+)?INDEX|DROP\s+INDEX))\s+CONCURRENTLY\b", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex Concurrently();

    [GeneratedRegex(@"^\s*DROP\b", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex Drop();

    /// <summary>
    /// What runs on the target: the command itself, except that CREATE/DROP INDEX CONCURRENTLY runs as a plain
    /// CREATE/DROP INDEX, because it is applied inside the source transaction's target transaction, where CONCURRENTLY
    /// cannot run (the index is built under a lock that blocks writes to that table on the target meanwhile).
    /// </summary>
    public string TargetCommand => Concurrently().Replace(Command, "$1", 1);

    /// <summary>SQLSTATEs that say the command's object is already there, or already gone, on the target.</summary>
    private static readonly HashSet<string> AlreadySignals =
    [
        PostgresErrorCodes.DuplicateColumn, PostgresErrorCodes.DuplicateTable, PostgresErrorCodes.DuplicateObject,
        PostgresErrorCodes.UndefinedObject, PostgresErrorCodes.UndefinedTable, PostgresErrorCodes.UndefinedColumn,
    ];

    /// <summary>
    /// The target refused the command because of what it already holds: its object is already there (the same change
    /// was made there too, or a different one of the same name) or already gone.
    /// </summary>
    public static bool IsAlreadySignal(string sqlState) => AlreadySignals.Contains(sqlState);

    /// <summary>A DROP whose object is already gone on the target leaves it as the source: nothing to do.</summary>
    public bool AlreadyGone(string sqlState) =>
        Drop().IsMatch(Command) && sqlState is PostgresErrorCodes.UndefinedObject or PostgresErrorCodes.UndefinedTable or PostgresErrorCodes.UndefinedColumn;

    /// <summary>
    /// How the target's shape of <see cref="Object"/> differs from the source's after the command, or null when the target
    /// holds all of it (the change is already there). Column by column: those the target lacks, and those whose type,
    /// default or NOT NULL differ; then indexes. What only the target has is its own change, not yet arrived on the
    /// source: that one is checked on its way there.
    /// </summary>
    public static string? Difference(string? sourceShape, string? targetShape, string sourceNode, string targetNode)
    {
        var source = sourceShape is null ? null : JsonNode.Parse(sourceShape);
        var target = targetShape is null ? null : JsonNode.Parse(targetShape);
        if (source is null || target is null)
            return source is null && target is null ? null : $"the table exists on '{(source is null ? targetNode : sourceNode)}' only";
        var diffs = new List<string>();
        foreach (var part in new[] { "columns", "indexes" })
        {
            var s = source[part]?.AsObject() ?? [];
            var t = target[part]?.AsObject() ?? [];
            foreach (var (name, value) in s.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                if (!t.TryGetPropertyValue(name, out var other)) diffs.Add($"{Singular(part)} {name} only on '{sourceNode}'");
                else if (!JsonNode.DeepEquals(value, other))
                    diffs.Add($"{Singular(part)} {name} is {Describe(value)} on '{sourceNode}' but {Describe(other)} on '{targetNode}'");
            }
        }
        return diffs.Count == 0 ? null : string.Join("; ", diffs);
    }

    private static string Singular(string part) => part == "columns" ? "column" : "index";

    private static string Describe(JsonNode? value) => value switch
    {
        JsonObject o => string.Join(" ", new[]
        {
            o["type"]?.GetValue<string>(),
            o["default"] is { } d ? $"DEFAULT {d.GetValue<string>()}" : null,
            o["not_null"]?.GetValue<bool>() == true ? "NOT NULL" : null,
        }.Where(x => x is not null)),
        null => "nothing",
        _ => value.ToJsonString(),
    };
}
