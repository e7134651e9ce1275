using Npgsql;
using PgMultiMaster.Conflicts;
using PgMultiMaster.Decoding;
using PgMultiMaster.Sql;

namespace PgMultiMaster.Apply;

/// <summary>How rows of one replicated relation are found, typed and compared on the target.</summary>
/// <param name="Equality">Per column, the equality of its type's default btree operator class: <c>=</c> when it is
/// pg_catalog's, else qualified (<c>OPERATOR(public.=)</c>: the apply session's search_path holds pg_catalog only, where
/// a bare <c>=</c> would silently pick another type's operator, e.g. text's for citext); null when the type has
/// none (json, xml, geometric types), so values are compared by their text.</param>
internal sealed record TargetTable(RelationInfo Relation, int[] MatchColumns, bool MatchAllColumns, string[] Types, string?[] Equality, TableRules Rules)
{
    public string QuotedName { get; } = Quote.Table(Relation.Schema, Relation.Name);

    /// <summary>Tombstones need a key; tables matched on all columns (no key) and insert-only tables have none.</summary>
    public bool HasTombstones => !MatchAllColumns;

    public string Cast(int column) => "::" + Types[column];

    /// <summary><paramref name="left"/> equals <paramref name="right"/> by the column type's own equality (a key column).</summary>
    public string Equal(int column, string left, string right) => $"{left} {Equality[column] ?? "="} {right}";

    /// <summary>Equal, or both NULL: by the column type's own equality, or by the text of types that have none.</summary>
    public string NotDistinct(int column, string left, string right) => Equality[column] switch
    {
        null => $"{left}::text IS NOT DISTINCT FROM {right}::text",
        "=" => $"{left} IS NOT DISTINCT FROM {right}",
        var op => $"coalesce({left} {op} {right}, {left} IS NULL AND {right} IS NULL)",
    };

    /// <summary>
    /// Reads the target's shape of <paramref name="relation"/>: every column the source sends must exist there,
    /// and rows are matched by the key pgoutput marks, or under REPLICA IDENTITY FULL by the target's primary key
    /// (all columns only when there is none).
    /// </summary>
    public static async Task<TargetTable> LoadAsync(NpgsqlConnection target, RelationInfo relation, string targetNode, TableRules rules, CancellationToken ct)
    {
        var quoted = Quote.Table(relation.Schema, relation.Name);
        var columns = new Dictionary<string, (string Type, bool Key, string? Equality)>(StringComparer.Ordinal);
        await using (var cmd = new NpgsqlCommand(
            """
            SELECT a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod), coalesce(a.attnum = ANY (i.indkey), false),
                   -- the equality (btree strategy 3) of the type's default btree operator class, and its schema
                   (SELECT pg_catalog.quote_ident(n.nspname) || '.' || op.oprname
                    FROM pg_opclass o JOIN pg_am m ON m.oid = o.opcmethod
                    JOIN pg_amop ao ON ao.amopfamily = o.opcfamily AND ao.amopstrategy = 3
                                   AND ao.amoplefttype = o.opcintype AND ao.amoprighttype = o.opcintype
                    JOIN pg_operator op ON op.oid = ao.amopopr JOIN pg_namespace n ON n.oid = op.oprnamespace
                    WHERE m.amname = 'btree' AND o.opcdefault
                      AND o.opcintype IN (a.atttypid, coalesce(nullif(t.typbasetype, 0), a.atttypid),
                                          CASE WHEN t.typtype = 'e' THEN 'anyenum'::regtype END,
                                          CASE WHEN t.typcategory = 'A' THEN 'anyarray'::regtype END)
                    LIMIT 1)
            FROM pg_attribute a
            JOIN pg_type t ON t.oid = a.atttypid
            LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary
            WHERE a.attrelid = pg_catalog.to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
            """, target))
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = quoted });
            await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
                columns[reader.GetString(0)] = (reader.GetString(1), reader.GetBoolean(2),
                    reader.IsDBNull(3) ? null : reader.GetString(3) is var op && op == "pg_catalog.=" ? "=" : $"OPERATOR({reader.GetString(3)})");
        }

        if (columns.Count == 0)
            throw new SchemaMismatchException($"table {quoted} does not exist on node '{targetNode}'.");
        var missing = relation.Columns.Where(c => !columns.ContainsKey(c.Name)).Select(c => c.Name).ToList();
        if (missing.Count > 0)
            throw new SchemaMismatchException($"table {quoted} on node '{targetNode}' lacks column(s) {string.Join(", ", missing.Select(Quote.Ident))} that the source sends.");

        var types = relation.Columns.Select(c => columns[c.Name].Type).ToArray();
        var equality = relation.Columns.Select(c => columns[c.Name].Equality).ToArray();
        // Under REPLICA IDENTITY FULL pgoutput marks every column as key; from here on "key" means the columns
        // that find the row, so merges and Delta treat the others as data.
        TargetTable Make(int[] match, bool all) => new(
            relation with { Columns = [.. relation.Columns.Select((c, i) => c with { IsKey = !all && match.Contains(i) })] },
            match, all, types, equality, rules);
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
