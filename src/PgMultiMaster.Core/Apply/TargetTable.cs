using Npgsql;
using PgMultiMaster.Conflicts;
using PgMultiMaster.Decoding;
using PgMultiMaster.Sql;

namespace PgMultiMaster.Apply;

/// <summary>How rows of one replicated relation are found, typed and compared on the target.</summary>
internal sealed record TargetTable(RelationInfo Relation, int[] MatchColumns, bool MatchAllColumns, string[] Types, bool[] CompareAsText, TableRules Rules)
{
    public string QuotedName { get; } = Quote.Table(Relation.Schema, Relation.Name);

    /// <summary>Tombstones need a key; tables matched on all columns (no key) and insert-only tables have none.</summary>
    public bool HasTombstones => !MatchAllColumns;

    public string Cast(int column) => "::" + Types[column];

    /// <summary>
    /// Reads the target's shape of <paramref name="relation"/>: every column the source sends must exist there,
    /// and rows are matched by the key pgoutput marks, or under REPLICA IDENTITY FULL by the target's primary key
    /// (all columns only when there is none).
    /// </summary>
    public static async Task<TargetTable> LoadAsync(NpgsqlConnection target, RelationInfo relation, string targetNode, TableRules rules, CancellationToken ct)
    {
        var quoted = Quote.Table(relation.Schema, relation.Name);
        var columns = new Dictionary<string, (string Type, bool Key, bool TextCompare)>(StringComparer.Ordinal);
        await using (var cmd = new NpgsqlCommand(
            """
            SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), coalesce(a.attnum = ANY (i.indkey), false),
                   -- types without a btree equality (json, xml, geometric) are compared by their text
                   NOT EXISTS (SELECT 1 FROM pg_opclass o JOIN pg_am m ON m.oid = o.opcmethod
                               WHERE m.amname = 'btree' AND o.opcdefault
                                 AND o.opcintype IN (a.atttypid, coalesce(nullif(t.typbasetype, 0), a.atttypid),
                                                     CASE WHEN t.typtype = 'e' THEN 'anyenum'::regtype END,
                                                     CASE WHEN t.typcategory = 'A' THEN 'anyarray'::regtype END))
            FROM pg_attribute a
            JOIN pg_type t ON t.oid = a.atttypid
            LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary
            WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
            """, target))
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = quoted });
            await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
                columns[reader.GetString(0)] = (reader.GetString(1), reader.GetBoolean(2), reader.GetBoolean(3));
        }

        if (columns.Count == 0)
            throw new SchemaMismatchException($"table {quoted} does not exist on node '{targetNode}'.");
        var missing = relation.Columns.Where(c => !columns.ContainsKey(c.Name)).Select(c => c.Name).ToList();
        if (missing.Count > 0)
            throw new SchemaMismatchException($"table {quoted} on node '{targetNode}' lacks column(s) {string.Join(", ", missing.Select(Quote.Ident))} that the source sends.");

        var types = relation.Columns.Select(c => columns[c.Name].Type).ToArray();
        var textCompare = relation.Columns.Select(c => columns[c.Name].TextCompare).ToArray();
        // Under REPLICA IDENTITY FULL pgoutput marks every column as key; from here on "key" means the columns
        // that find the row, so merges and Delta treat the others as data.
        TargetTable Make(int[] match, bool all) => new(
            relation with { Columns = [.. relation.Columns.Select((c, i) => c with { IsKey = !all && match.Contains(i) })] },
            match, all, types, textCompare, rules);
        var indexes = Enumerable.Range(0, relation.Columns.Length);
        var primaryKey = columns.Where(c => c.Value.Key).Select(c => c.Key).ToHashSet();
        if (relation.Identity == ReplicaIdentity.Full && primaryKey.Count > 0 && primaryKey.All(k => relation.Columns.Any(c => c.Name == k)))
            return Make(indexes.Where(i => primaryKey.Contains(relation.Columns[i].Name)).ToArray(), false);

        var keyed = indexes.Where(i => relation.Columns[i].IsKey).ToArray();
        var all = relation.Identity == ReplicaIdentity.Full || keyed.Length == 0;
        return Make(keyed.Length > 0 && !all ? keyed : indexes.ToArray(), all);
    }
}

/// <summary>The target table cannot take what the source sent (missing table or columns).</summary>
public sealed class SchemaMismatchException(string message) : Exception("schema_mismatch: " + message);
