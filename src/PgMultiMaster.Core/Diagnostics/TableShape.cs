using Npgsql;
using PgMultiMaster.Sql;

namespace PgMultiMaster.Diagnostics;

/// <summary>
/// What the row diff and repair need to know of a table on one node: its columns (in name order, as
/// <see cref="TableChecksum"/> hashes them) and its key, the one the apply matches rows by.
/// </summary>
/// <param name="Key">The key columns in index order: the replica identity index if the table has one, else the primary
/// key; empty when there is neither (a <c>REPLICA IDENTITY FULL</c> table matched on whole rows).</param>
/// <param name="KeyTypes">Per key column, the type values are cast to (<c>format_type</c>: quoted and qualified).</param>
/// <param name="Writable">The columns repair writes: all but generated ones, with their types.</param>
/// <param name="AlwaysIdentity">The <c>GENERATED ALWAYS AS IDENTITY</c> columns: an insert writes them with OVERRIDING
/// SYSTEM VALUE, an UPDATE cannot write them at all (only DEFAULT).</param>
public sealed record TableShape(string Schema, string Name, IReadOnlyList<string> Columns, IReadOnlyList<string> Key,
    IReadOnlyList<string> KeyTypes, IReadOnlyList<(string Column, string Type)> Writable, IReadOnlyList<string>? AlwaysIdentity = null)
{
    public string QualifiedName => $"{Schema}.{Name}";

    public string Quoted => Quote.Table(Schema, Name);

    public bool HasKey => Key.Count > 0;

    /// <summary>A row's text, columns in name order: the same on every node whatever the column order on disk.</summary>
    public string RowText(string alias) => $"ROW({string.Join(", ", Columns.Select(c => alias + "." + Quote.Ident(c)))})::text";

    /// <summary>The key's values as text, in key order.</summary>
    public string KeyText(string alias) => $"ARRAY[{string.Join(", ", Key.Select(c => alias + "." + Quote.Ident(c) + "::text"))}]::text[]";

    /// <summary>The key columns, for ORDER BY and row comparisons.</summary>
    public string KeyList(string alias) => string.Join(", ", Key.Select(c => alias + "." + Quote.Ident(c)));

    /// <summary>Describes the table on this node; null when it does not exist there.</summary>
    public static async Task<TableShape?> LoadAsync(NpgsqlConnection conn, string schema, string table, CancellationToken ct)
    {
        var quoted = Quote.Table(schema, table);
        var columns = new List<(string Name, string Type, bool Generated, bool AlwaysIdentity)>();
        await using (var cmd = new NpgsqlCommand(
            """
            SELECT a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attgenerated <> '', a.attidentity = 'a'
            FROM pg_catalog.pg_attribute a
            WHERE a.attrelid = pg_catalog.to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
            ORDER BY a.attname
            """, conn))
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = quoted });
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false)) columns.Add((r.GetString(0), r.GetString(1), r.GetBoolean(2), r.GetBoolean(3)));
        }
        if (columns.Count == 0) return null;

        // The key pgoutput sends, as the apply reads it: the replica identity index when REPLICA IDENTITY USING INDEX,
        // otherwise the primary key (under FULL too: the apply then matches by the target's primary key).
        var key = new List<string>();
        await using (var cmd = new NpgsqlCommand(
            """
            SELECT a.attname::text
            FROM pg_catalog.pg_class c
            JOIN pg_catalog.pg_index i ON i.indrelid = c.oid
                 AND CASE WHEN c.relreplident = 'i' THEN i.indisreplident ELSE i.indisprimary END
            CROSS JOIN LATERAL pg_catalog.unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, n)
            JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
            WHERE c.oid = pg_catalog.to_regclass($1)
            ORDER BY k.n
            """, conn))
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = quoted });
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false)) key.Add(r.GetString(0));
        }
        var types = columns.ToDictionary(c => c.Name, c => c.Type, StringComparer.Ordinal);
        return new TableShape(schema, table, columns.Select(c => c.Name).ToList(), key, key.Select(k => types[k]).ToList(),
            columns.Where(c => !c.Generated).Select(c => (c.Name, c.Type)).ToList(), columns.Where(c => c.AlwaysIdentity).Select(c => c.Name).ToList());
    }
}
