using Npgsql;
using PgMultiMaster.Sql;

namespace PgMultiMaster.Setup;

/// <summary>How a key column takes its values from a sequence.</summary>
public enum KeySource
{
    /// <summary><c>GENERATED … AS IDENTITY</c>.</summary>
    Identity,

    /// <summary>A default calling <c>nextval</c> (what <c>serial</c> makes).</summary>
    Nextval,

    /// <summary>A default calling <c>pgmm.next_id</c>.</summary>
    NextId,
}

/// <summary>
/// A sequence that feeds a key column of a replicated table on one node, with its settings and what it and the
/// column hold there.
/// </summary>
/// <param name="LastValue">The sequence's <c>last_value</c>: no value above it has been handed out (cached values included).</param>
/// <param name="MaxKey">The column's largest value on this node, NULL when the table is empty.</param>
/// <param name="Owned">pgmm's role owns the sequence or has its owner's rights (needed to alter it).</param>
public sealed record KeySequence(
    string Schema, string Table, string Column, string ColumnType, string SequenceSchema, string SequenceName, KeySource Source,
    long Increment, long MinValue, long MaxValue, bool Cycle, string SequenceType, bool Owned,
    long LastValue, bool IsCalled, long? MaxKey)
{
    public string Key => $"{Schema}.{Table}.{Column}";
    public string QualifiedSequence => $"{SequenceSchema}.{SequenceName}";
    public string QuotedSequence => Quote.Table(SequenceSchema, SequenceName);
    public string QuotedTable => Quote.Table(Schema, Table);

    /// <summary>The value the next <c>nextval</c> returns.</summary>
    public long Next => IsCalled ? LastValue + Increment : LastValue;

    /// <summary>The largest value the column can hold: the sequence may allow more than an <c>integer</c> key takes.</summary>
    public long Ceiling => Math.Min(MaxValue, ColumnType switch
    {
        "smallint" => short.MaxValue,
        "integer" => int.MaxValue,
        _ => long.MaxValue,
    });

    /// <summary>The key column holds whole numbers (the only kind pgmm moves apart).</summary>
    public bool IntegerKey => ColumnType is "smallint" or "integer" or "bigint";

    /// <summary>
    /// Every sequence feeding a key column (the replica identity index's, else the primary key's) of
    /// <paramref name="tables"/>: identity columns, and defaults that depend on a sequence (<c>nextval('…')</c>,
    /// <c>pgmm.next_id('…')</c>).
    /// </summary>
    public static async Task<IReadOnlyList<KeySequence>> ReadAsync(NpgsqlConnection conn, IEnumerable<ReplicatedTable> tables, CancellationToken ct)
    {
        var wanted = tables.Where(t => !t.InsertOnly).Select(t => (t.Schema, t.Name)).ToHashSet();
        var found = new List<KeySequence>();
        await using (var cmd = new NpgsqlCommand(
            """
            SELECT n.nspname::text, c.relname::text, a.attname::text, pg_catalog.format_type(a.atttypid, NULL),
                   sn.nspname::text, sc.relname::text,
                   CASE WHEN a.attidentity <> '' THEN 'identity'
                        WHEN pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) ~ '(^|[^a-z_])pgmm\.next_id(_at)?\(' THEN 'next_id'
                        ELSE 'nextval' END,
                   s.seqincrement, s.seqmin, s.seqmax, s.seqcycle, pg_catalog.format_type(s.seqtypid, NULL),
                   pg_catalog.pg_has_role(sc.relowner, 'USAGE')
            FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            JOIN pg_index i ON i.indrelid = c.oid AND (CASE WHEN c.relreplident = 'i' THEN i.indisreplident ELSE i.indisprimary END)
            JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY (i.indkey)
            LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
            JOIN LATERAL (
                -- identity columns own their sequence (deptype i); a default depends on the sequences it names
                SELECT d.objid AS seq FROM pg_depend d
                WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
                  AND d.refobjid = c.oid AND d.refobjsubid = a.attnum AND d.deptype = 'i'
                UNION
                SELECT d.refobjid FROM pg_depend d
                WHERE d.classid = 'pg_attrdef'::regclass AND d.objid = ad.oid AND d.refclassid = 'pg_class'::regclass
            ) f ON true
            JOIN pg_class sc ON sc.oid = f.seq AND sc.relkind = 'S'
            JOIN pg_namespace sn ON sn.oid = sc.relnamespace
            JOIN pg_sequence s ON s.seqrelid = sc.oid
            WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pgmm')
            ORDER BY 1, 2, 3
            """, conn))
        {
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false))
            {
                if (!wanted.Contains((r.GetString(0), r.GetString(1)))) continue;
                var source = r.GetString(6) switch { "identity" => KeySource.Identity, "next_id" => KeySource.NextId, _ => KeySource.Nextval };
                found.Add(new KeySequence(r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetString(4), r.GetString(5), source,
                    r.GetInt64(7), r.GetInt64(8), r.GetInt64(9), r.GetBoolean(10), r.GetString(11), r.GetBoolean(12), 0, false, null));
            }
        }

        var result = new List<KeySequence>();
        foreach (var k in found)
            result.Add(k.Owned ? await WithStateAsync(conn, k, ct).ConfigureAwait(false) : k);
        return result;
    }

    /// <summary>The sequence's position and the column's largest values, read now (under the caller's locks, if any).</summary>
    public static async Task<KeySequence> WithStateAsync(NpgsqlConnection conn, KeySequence k, CancellationToken ct)
    {
        var max = k.IntegerKey ? $"(SELECT pg_catalog.max({Quote.Ident(k.Column)})::bigint FROM {k.QuotedTable})" : "NULL::bigint";
        await using var cmd = new NpgsqlCommand($"SELECT last_value, is_called, {max} FROM {k.QuotedSequence}", conn);
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        await r.ReadAsync(ct).ConfigureAwait(false);
        return k with { LastValue = r.GetInt64(0), IsCalled = r.GetBoolean(1), MaxKey = r.IsDBNull(2) ? null : r.GetInt64(2) };
    }

    /// <summary>
    /// Snowflake: per node number, the largest state (<c>id &gt;&gt; 10</c>) among the keys of this node's table that carry
    /// it. A node that takes a number another node had before must not count from below that node's ids.
    /// </summary>
    public static async Task<Dictionary<int, long>> SnowflakeStatesAsync(NpgsqlConnection conn, KeySequence k, CancellationToken ct)
    {
        var column = Quote.Ident(k.Column);
        await using var cmd = new NpgsqlCommand(
            $"SELECT ({column} & 1023)::int, pg_catalog.max({column} >> 10) FROM {k.QuotedTable} WHERE {column} >= 0 GROUP BY 1", conn);
        var result = new Dictionary<int, long>();
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false))
            result[r.GetInt32(0)] = r.GetInt64(1);
        return result;
    }
}
