using Npgsql;
using PgMultiMaster.Decoding;
using PgMultiMaster.Sql;

namespace PgMultiMaster.Apply;

/// <summary>How rows of one replicated relation are found on the target.</summary>
internal sealed record TargetTable(RelationInfo Relation, int[] MatchColumns, bool MatchAllColumns)
{
    public string QuotedName { get; } = Quote.Table(Relation.Schema, Relation.Name);

    /// <summary>
    /// Reads the target's shape of <paramref name="relation"/>: every column the source sends must exist there,
    /// and rows are matched by the key pgoutput marks, or under REPLICA IDENTITY FULL by the target's primary key
    /// (all columns only when there is none).
    /// </summary>
    public static async Task<TargetTable> LoadAsync(NpgsqlConnection target, RelationInfo relation, string targetNode, CancellationToken ct)
    {
        var quoted = Quote.Table(relation.Schema, relation.Name);
        var columns = new HashSet<string>(StringComparer.Ordinal);
        var primaryKey = new HashSet<string>(StringComparer.Ordinal);
        await using (var cmd = new NpgsqlCommand(
            """
            SELECT a.attname, coalesce(a.attnum = ANY (i.indkey), false)
            FROM pg_attribute a
            LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary
            WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
            """, target))
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = quoted });
            await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                columns.Add(reader.GetString(0));
                if (reader.GetBoolean(1)) primaryKey.Add(reader.GetString(0));
            }
        }

        if (columns.Count == 0)
            throw new SchemaMismatchException($"table {quoted} does not exist on node '{targetNode}'.");
        var missing = relation.Columns.Where(c => !columns.Contains(c.Name)).Select(c => c.Name).ToList();
        if (missing.Count > 0)
            throw new SchemaMismatchException($"table {quoted} on node '{targetNode}' lacks column(s) {string.Join(", ", missing.Select(Quote.Ident))} that the source sends.");

        var indexes = Enumerable.Range(0, relation.Columns.Length);
        if (relation.Identity == ReplicaIdentity.Full && primaryKey.Count > 0
            && primaryKey.All(k => relation.Columns.Any(c => c.Name == k)))
            return new TargetTable(relation, indexes.Where(i => primaryKey.Contains(relation.Columns[i].Name)).ToArray(), false);

        var keyed = indexes.Where(i => relation.Columns[i].IsKey).ToArray();
        return new TargetTable(relation, keyed.Length > 0 ? keyed : indexes.ToArray(), relation.Identity == ReplicaIdentity.Full || keyed.Length == 0);
    }
}

/// <summary>The target table cannot take what the source sent (missing table or columns).</summary>
public sealed class SchemaMismatchException(string message) : Exception("schema_mismatch: " + message);

/// <summary>An UPDATE or DELETE found no row to change: a conflict the rules of a later stage decide.</summary>
public sealed class MissingRowException(string message) : Exception(message);
