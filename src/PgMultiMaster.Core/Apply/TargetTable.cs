using Npgsql;
using PgMultiMaster.Conflicts;
using PgMultiMaster.Decoding;
using PgMultiMaster.Failures;
using PgMultiMaster.Sql;

namespace PgMultiMaster.Apply;

/// <summary>How rows of one replicated relation are found, typed and compared on the target.</summary>
/// <param name="Types">Per column, its type: what values written to it are cast to (a domain's CHECK runs then).</param>
/// <param name="CompareTypes">Per column, the type values sent to find or compare a row are cast to: the column's type
/// with its domains taken off (an array of a domain: the array of its base), as PostgreSQL's own apply compares. A
/// domain's CHECK does not run on them: it may depend on the table (and fail for a row that is there) or on anything
/// but the value, and a value already stored need not pass it again.</param>
/// <param name="Equality">Per column, the equality of its type's default btree operator class: <c>=</c> when it is
/// pg_catalog's, else qualified (<c>OPERATOR(public.=)</c>: the apply session's search_path holds pg_catalog only, where
/// a bare <c>=</c> would silently pick another type's operator, e.g. text's for citext); null when the type has
/// none (json, xml, geometric types), so values are compared by their text.</param>
/// <param name="OnConflict">How a guarded insert skips a row whose key or unique value is taken (see <see cref="LoadAsync"/>).</param>
/// <param name="DefersChecks">The table has a deferrable unique constraint or a deferrable trigger: a change to it may
/// fail only when its transaction ends (see <see cref="ChangeStatements.CheckDeferred"/>).</param>
/// <param name="Generation">Per column, how the target generates it (<see cref="ColumnGeneration"/>); null: none is.</param>
internal sealed record TargetTable(
    RelationInfo Relation, int[] MatchColumns, bool MatchAllColumns, string[] Types, string[] CompareTypes, string?[] Equality, TableRules Rules,
    string OnConflict = " ON CONFLICT DO NOTHING", bool DefersChecks = false, ColumnGeneration[]? Generation = null)
{
    public string QuotedName { get; } = Quote.Table(Relation.Schema, Relation.Name);

    /// <summary>
    /// The columns a statement writes: all the source sends but the target's generated ones (<c>GENERATED ALWAYS AS
    /// (…)</c>), which PostgreSQL computes and refuses any value for (428C9) — the target computes them from the
    /// replicated columns. Identity columns are written: inserts carry OVERRIDING SYSTEM VALUE.
    /// </summary>
    public int[] Written { get; } = [.. Enumerable.Range(0, Relation.Columns.Length).Where(i => Generation is null || Generation[i] != ColumnGeneration.Generated)];

    /// <summary>A <c>GENERATED ALWAYS AS IDENTITY</c> column: an UPDATE may set it only to DEFAULT (428C9), never to a value.</summary>
    public bool IsAlwaysIdentity(int column) => Generation is not null && Generation[column] == ColumnGeneration.AlwaysIdentity;

    /// <summary>Tombstones need a key; tables matched on all columns (no key) and insert-only tables have none.</summary>
    public bool HasTombstones => !MatchAllColumns;

    /// <summary>Cast of a value written to the column.</summary>
    public string Cast(int column) => "::" + Types[column];

    /// <summary>Cast of a value that finds or is compared with a row, never written (see <see cref="CompareTypes"/>).</summary>
    public string CompareCast(int column) => "::" + CompareTypes[column];

    /// <summary>The column <paramref name="left"/> equals <paramref name="right"/> by its type's own equality (a key column).</summary>
    public string Equal(int column, string left, string right) => $"{AsCompared(column, left)} {Equality[column] ?? "="} {right}";

    /// <summary>Equal, or both NULL: by the column type's own equality, or by the text of types that have none.</summary>
    public string NotDistinct(int column, string left, string right)
    {
        left = AsCompared(column, left);
        return Equality[column] switch
        {
            null => $"{left}::text IS NOT DISTINCT FROM {right}::text",
            "=" => $"{left} IS NOT DISTINCT FROM {right}",
            var op => $"coalesce({left} {op} {right}, {left} IS NULL AND {right} IS NULL)",
        };
    }

    // A column of a domain is compared as its base type (no cost: the same value), an array of a domain as the array
    // of the base, for which PostgreSQL has no operator with the domain's array on one side.
    private string AsCompared(int column, string expression) =>
        Types[column] == CompareTypes[column] ? expression : $"{expression}{CompareCast(column)}";

    /// <summary>
    /// Reads the target's shape of <paramref name="relation"/>: every column the source sends must exist there,
    /// and rows are matched by the key pgoutput marks, or under REPLICA IDENTITY FULL by the target's primary key
    /// (all columns only when there is none).
    /// </summary>
    public static async Task<TargetTable> LoadAsync(NpgsqlConnection target, RelationInfo relation, string targetNode, TableRules rules, CancellationToken ct)
    {
        var quoted = Quote.Table(relation.Schema, relation.Name);
        var columns = new Dictionary<string, (string Type, string CompareType, bool Key, string? Equality, ColumnGeneration Generation)>(StringComparer.Ordinal);
        await using (var cmd = new NpgsqlCommand(
            """
            SELECT a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod), pg_catalog.format_type(c.oid, c.typmod),
                   coalesce(a.attnum = ANY (i.indkey), false),
                   -- the equality (btree strategy 3) of the compared type's default btree operator class, and its schema
                   (SELECT pg_catalog.quote_ident(n.nspname) || '.' || op.oprname
                    FROM pg_opclass o JOIN pg_am m ON m.oid = o.opcmethod
                    JOIN pg_amop ao ON ao.amopfamily = o.opcfamily AND ao.amopstrategy = 3
                                   AND ao.amoplefttype = o.opcintype AND ao.amoprighttype = o.opcintype
                    JOIN pg_operator op ON op.oid = ao.amopopr JOIN pg_namespace n ON n.oid = op.oprnamespace
                    WHERE m.amname = 'btree' AND o.opcdefault
                      AND o.opcintype IN (c.oid, CASE WHEN ct.typtype = 'e' THEN 'anyenum'::regtype END,
                                          CASE WHEN ct.typcategory = 'A' THEN 'anyarray'::regtype END)
                    LIMIT 1),
                   a.attidentity::text, a.attgenerated::text
            FROM pg_attribute a
            LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary
            -- the column's type without its domains (a domain over a domain too) ...
            CROSS JOIN LATERAL (
                WITH RECURSIVE d(oid, typmod) AS (
                    SELECT a.atttypid, a.atttypmod
                    UNION ALL
                    SELECT t.typbasetype, t.typtypmod FROM d JOIN pg_type t ON t.oid = d.oid WHERE t.typtype = 'd')
                SELECT d.oid, d.typmod FROM d JOIN pg_type t ON t.oid = d.oid WHERE t.typtype <> 'd') b
            JOIN pg_type bt ON bt.oid = b.oid
            -- ... and an array of a domain becomes the array of the domain's base type
            LEFT JOIN LATERAL (
                WITH RECURSIVE e(oid) AS (
                    SELECT bt.typelem WHERE bt.typcategory = 'A' AND bt.typelem <> 0
                    UNION ALL
                    SELECT t.typbasetype FROM e JOIN pg_type t ON t.oid = e.oid WHERE t.typtype = 'd')
                SELECT t.typarray FROM e JOIN pg_type t ON t.oid = e.oid WHERE t.typtype <> 'd' AND e.oid <> bt.typelem) ea ON true
            CROSS JOIN LATERAL (SELECT coalesce(ea.typarray, b.oid) AS oid, CASE WHEN ea.typarray IS NULL THEN b.typmod ELSE -1 END AS typmod) c
            JOIN pg_type ct ON ct.oid = c.oid
            WHERE a.attrelid = pg_catalog.to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
            """, target))
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = quoted });
            await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
                columns[reader.GetString(0)] = (reader.GetString(1), reader.GetString(2), reader.GetBoolean(3),
                    reader.IsDBNull(4) ? null : reader.GetString(4) is var op && op == "pg_catalog.=" ? "=" : $"OPERATOR({reader.GetString(4)})",
                    // attgenerated: 's' stored, 'v' virtual (18); attidentity: 'a' always, 'd' by default
                    reader.GetString(6) != "" ? ColumnGeneration.Generated
                    : reader.GetString(5) == "a" ? ColumnGeneration.AlwaysIdentity : ColumnGeneration.None);
        }

        if (columns.Count == 0)
            throw new SchemaMismatchException($"table {quoted} does not exist on node '{targetNode}'.");

        // Unique indexes checked at once (immediate), as column-name lists, and whether any is deferrable.
        var immediate = new List<string[]>();
        var deferrable = false;
        await using (var cmd = new NpgsqlCommand(
            """
            SELECT i.indimmediate, ARRAY(SELECT a.attname::text FROM pg_attribute a
                                         WHERE a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey) ORDER BY a.attname)
            FROM pg_index i WHERE i.indrelid = pg_catalog.to_regclass($1) AND (i.indisunique OR i.indisexclusion)
            """, target))
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = quoted });
            await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
                if (reader.GetBoolean(0)) immediate.Add(reader.GetFieldValue<string[]>(1));
                else deferrable = true;
        }
        // Deferrable triggers (constraint triggers, deferrable foreign keys) run at COMMIT unless told otherwise.
        bool deferredTriggers;
        await using (var cmd = new NpgsqlCommand(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger WHERE tgrelid = pg_catalog.to_regclass($1) AND tgdeferrable)", target))
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = quoted });
            deferredTriggers = (bool)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
        }
        var missing = relation.Columns.Where(c => !columns.ContainsKey(c.Name)).Select(c => c.Name).ToList();
        if (missing.Count > 0)
            throw new SchemaMismatchException($"table {quoted} on node '{targetNode}' lacks column(s) {string.Join(", ", missing.Select(Quote.Ident))} that the source sends.");

        var types = relation.Columns.Select(c => columns[c.Name].Type).ToArray();
        var compareTypes = relation.Columns.Select(c => columns[c.Name].CompareType).ToArray();
        var equality = relation.Columns.Select(c => columns[c.Name].Equality).ToArray();
        var generation = relation.Columns.Select(c => columns[c.Name].Generation).ToArray();
        // Under REPLICA IDENTITY FULL pgoutput marks every column as key; from here on "key" means the columns
        // that find the row, so merges and Delta treat the others as data.
        TargetTable Make(int[] match, bool all) => new(
            relation with { Columns = [.. relation.Columns.Select((c, i) => c with { IsKey = !all && match.Contains(i) })] },
            match, all, types, compareTypes, equality, rules, OnConflictFor(match, all), deferrable || deferredTriggers,
            generation.Any(g => g != ColumnGeneration.None) ? generation : null);

        // ON CONFLICT DO NOTHING refuses to run at all (55000) when a unique constraint of the table is deferrable: then
        // only the key is arbitrated, if its index is checked at once; a taken key or value otherwise fails the insert
        // (at once, or at COMMIT) and the change is replayed carefully and parked like any unique violation.
        string OnConflictFor(int[] match, bool all)
        {
            if (!deferrable) return " ON CONFLICT DO NOTHING";
            var key = match.Select(i => relation.Columns[i].Name).Order(StringComparer.Ordinal).ToArray();
            return !all && immediate.Any(u => u.SequenceEqual(key))
                ? $" ON CONFLICT ({string.Join(", ", match.Select(i => Quote.Ident(relation.Columns[i].Name)))}) DO NOTHING"
                : "";
        }
        var indexes = Enumerable.Range(0, relation.Columns.Length);
        var primaryKey = columns.Where(c => c.Value.Key).Select(c => c.Key).ToHashSet();
        if (relation.Identity == ReplicaIdentity.Full && primaryKey.Count > 0 && primaryKey.All(k => relation.Columns.Any(c => c.Name == k)))
            return Make(indexes.Where(i => primaryKey.Contains(relation.Columns[i].Name)).ToArray(), false);

        var keyed = indexes.Where(i => relation.Columns[i].IsKey).ToArray();
        var all = relation.Identity == ReplicaIdentity.Full || keyed.Length == 0;
        return Make(keyed.Length > 0 && !all ? keyed : indexes.ToArray(), all);
    }
}

/// <summary>How the target fills a column by itself, as far as writing it matters.</summary>
internal enum ColumnGeneration
{
    None,
    /// <summary><c>GENERATED ALWAYS AS IDENTITY</c>: an insert writes it with OVERRIDING SYSTEM VALUE, an UPDATE only to DEFAULT.</summary>
    AlwaysIdentity,
    /// <summary><c>GENERATED ALWAYS AS (…)</c>, stored or virtual: never written.</summary>
    Generated,
}
