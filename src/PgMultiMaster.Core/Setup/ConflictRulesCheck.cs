using Dapper;
using Npgsql;
using PgMultiMaster.Configuration;
using PgMultiMaster.Conflicts;

namespace PgMultiMaster.Setup;

/// <summary>
/// Checks the conflict rules against one node's catalog: the tables and columns they name exist and are replicated,
/// column-merging strategies have the remote old row they need, Delta columns are numeric, and resolver functions
/// exist with the expected signature. Every problem names its configuration key.
/// </summary>
public static class ConflictRulesCheck
{
    // Strategies that must see the remote old row: to merge columns, or to tell a concurrent change from a later one.
    private static readonly HashSet<string> NeedOldRow =
        [nameof(Strategy.Delta), nameof(Strategy.ColumnMerge), nameof(Strategy.FirstWriterWins), nameof(Strategy.NodePriority)];

    /// <param name="insertOnly">Replicated tables that only take inserts: no update conflicts, so no identity needed.</param>
    public static async Task<IReadOnlyList<string>> RunAsync(NpgsqlConnection conn, string node, ConflictOptions options,
        IReadOnlyCollection<string> replicatedTables, IReadOnlyCollection<string> insertOnly, CancellationToken ct)
    {
        var problems = new List<string>();
        const string s = PgMultiMasterOptions.SectionName + ":Conflicts";
        await CheckFunctionAsync(conn, node, options.Default, $"{s}:Default", problems, ct).ConfigureAwait(false);
        if (NeedOldRow.Contains(options.Default.Strategy ?? "") || options.Default.Types.Values.Any(NeedOldRow.Contains))
            foreach (var table in replicatedTables.Where(t => !insertOnly.Contains(t) && (!options.Tables.TryGetValue(t, out var r) || r.Strategy is null)))
                await CheckFullIdentityAsync(conn, node, table, $"{s}:Default", options.Default.Strategy ?? "", problems, ct).ConfigureAwait(false);

        foreach (var (table, rule) in options.Tables)
        {
            var key = $"{s}:Tables:{table}";
            if (!replicatedTables.Contains(table))
            {
                problems.Add($"{key}: table {table} is not replicated (not matched by {PgMultiMasterOptions.SectionName}:Tables).");
                continue;
            }
            await CheckFunctionAsync(conn, node, rule, key, problems, ct).ConfigureAwait(false);
            var columns = await ColumnsAsync(conn, table, ct).ConfigureAwait(false);
            foreach (var (column, strategy) in rule.Columns)
            {
                if (!columns.TryGetValue(column, out var info))
                    problems.Add($"{key}:Columns:{column}: node '{node}': table {table} has no column '{column}'.");
                else if (strategy == nameof(Strategy.Delta) && !info.Numeric)
                    problems.Add($"{key}:Columns:{column}: Delta needs a numeric column; '{column}' is {info.Type} on node '{node}'.");
            }
            if (rule.Strategy == nameof(Strategy.Delta))
                foreach (var (column, info) in columns.Where(c => !c.Value.Key && !c.Value.Numeric && !rule.Columns.ContainsKey(c.Key)))
                    problems.Add($"{key}:Strategy: Delta applies to every non-key column, but '{column}' is {info.Type} on node '{node}'; give it a column rule.");
            var needing = rule.Columns.Values.Append(rule.Strategy ?? "").Concat(rule.Types.Values).FirstOrDefault(NeedOldRow.Contains);
            if (needing is not null && !insertOnly.Contains(table))
                await CheckFullIdentityAsync(conn, node, table, key, needing, problems, ct).ConfigureAwait(false);
        }
        return problems;
    }

    private static async Task CheckFullIdentityAsync(NpgsqlConnection conn, string node, string table, string key, string strategy, List<string> problems, CancellationToken ct)
    {
        var identity = await conn.ExecuteScalarAsync<string?>(new CommandDefinition(
            "SELECT relreplident::text FROM pg_class WHERE oid = pg_catalog.to_regclass(@table)", new { table = Quoted(table) }, cancellationToken: ct)).ConfigureAwait(false);
        if (identity is not null && identity != "f")
            problems.Add($"{key}: {strategy} needs the remote old row: node '{node}': ALTER TABLE {Quoted(table)} REPLICA IDENTITY FULL.");
    }

    private static async Task CheckFunctionAsync(NpgsqlConnection conn, string node, ConflictRule rule, string key, List<string> problems, CancellationToken ct)
    {
        if (rule.Strategy != nameof(Strategy.Function) && !rule.Types.Values.Contains(nameof(Strategy.Function))) return;
        var function = Quoted(rule.Function!);
        await using var cmd = new NpgsqlCommand(
            """
            SELECT p.prorettype = 'jsonb'::regtype,
                   pg_catalog.has_schema_privilege(p.pronamespace, 'USAGE') AND pg_catalog.has_function_privilege(p.oid, 'EXECUTE'),
                   current_user::text
            FROM pg_proc p WHERE p.oid = pg_catalog.to_regprocedure($1 || '(jsonb, jsonb, text)')
            """, conn);
        cmd.Parameters.Add(new NpgsqlParameter { Value = function });
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        if (!await r.ReadAsync(ct).ConfigureAwait(false))
            problems.Add($"{key}:Function: node '{node}' has no function {rule.Function}(local jsonb, remote jsonb, conflict_type text).");
        else if (!r.GetBoolean(0))
            problems.Add($"{key}:Function: {rule.Function}(jsonb, jsonb, text) on node '{node}' must return jsonb.");
        else if (!r.GetBoolean(1))
        {
            // The apply session calls it as pgmm's role.
            var role = Sql.Quote.Ident(r.GetString(2));
            problems.Add($"{key}:Function: role '{r.GetString(2)}' may not call {rule.Function}(jsonb, jsonb, text) on node '{node}': " +
                         $"GRANT USAGE ON SCHEMA {Sql.Quote.Ident(rule.Function!.Split('.', 2)[0])} TO {role}; GRANT EXECUTE ON FUNCTION {function}(jsonb, jsonb, text) TO {role};");
        }
    }

    private static async Task<Dictionary<string, (string Type, bool Numeric, bool Key)>> ColumnsAsync(NpgsqlConnection conn, string table, CancellationToken ct)
    {
        var rows = await conn.QueryAsync<(string Name, string Type, bool Numeric, bool Key)>(new CommandDefinition(
            """
            SELECT a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod), t.typcategory = 'N',
                   coalesce(a.attnum = ANY (i.indkey), false)
            FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
            LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary
            WHERE a.attrelid = pg_catalog.to_regclass(@table) AND a.attnum > 0 AND NOT a.attisdropped
            """, new { table = Quoted(table) }, cancellationToken: ct)).ConfigureAwait(false);
        return rows.ToDictionary(c => c.Name, c => (c.Type, c.Numeric, c.Key));
    }

    private static string Quoted(string qualified)
    {
        var dot = qualified.IndexOf('.', StringComparison.Ordinal);
        return Sql.Quote.Table(qualified[..dot], qualified[(dot + 1)..]);
    }
}
