using System.Text;
using Npgsql;
using PgMultiMaster.Configuration;
using PgMultiMaster.Topology;

namespace PgMultiMaster.Setup;

/// <summary>
/// Schema change capture on one node (sql/009_ddl.sql): how it captures (<see cref="DdlOptions.Capture"/>), the Tables
/// patterns a new table must match to replicate, and the event triggers when they are chosen. Run by <c>init</c>.
/// </summary>
public static class DdlSetup
{
    /// <summary>pgmm's DDL queue: published by the insert-only publication, so its INSERTs travel with the data.</summary>
    public static readonly ReplicatedTable Log = new("pgmm", "ddl_log", InsertOnly: true);

    public const string CommandEndTrigger = "pgmm_ddl";
    public const string DropTrigger = "pgmm_ddl_drop";

    /// <summary>What a superuser runs on a node where pgmm's role may not create the event triggers.</summary>
    public static string EventTriggerSql =>
        $"CREATE EVENT TRIGGER {CommandEndTrigger} ON ddl_command_end EXECUTE FUNCTION pgmm.ddl_capture(); " +
        $"CREATE EVENT TRIGGER {DropTrigger} ON sql_drop EXECUTE FUNCTION pgmm.ddl_capture_drop();";

    /// <summary>
    /// Records the capture mode and patterns, and creates the event triggers if chosen. Returns a problem (the SQL a
    /// superuser must run) when pgmm's role may not create them; everything else is done then.
    /// </summary>
    public static async Task<string?> ApplyAsync(NpgsqlConnection conn, NodeOptions node, ClusterTopology topology, CancellationToken ct)
    {
        var options = topology.Options;
        await ServerObjects.ExecAsync(conn, """
            INSERT INTO pgmm.ddl_settings (cluster, capture, publication, insert_only_publication) VALUES ($1, $2, $3, $4)
            ON CONFLICT (cluster) DO UPDATE SET capture = excluded.capture, publication = excluded.publication,
                                                insert_only_publication = excluded.insert_only_publication
            """, ct, options.Cluster, options.Ddl.Capture.ToString(), topology.Publication, topology.InsertOnlyPublication).ConfigureAwait(false);
        await ServerObjects.ExecAsync(conn, "DELETE FROM pgmm.ddl_tables WHERE cluster = $1", ct, options.Cluster).ConfigureAwait(false);
        foreach (var (pattern, insertOnly) in options.Tables.Select(t => (t, false)).Concat(options.InsertOnlyTables.Select(t => (t, true))))
        {
            var (schema, table) = Regexes(pattern);
            await ServerObjects.ExecAsync(conn,
                "INSERT INTO pgmm.ddl_tables (cluster, pattern, schema_regex, table_regex, insert_only) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                ct, options.Cluster, pattern, schema, table, insertOnly).ConfigureAwait(false);
        }

        var existing = await CountTriggersAsync(conn, ct).ConfigureAwait(false);
        if (options.Ddl.Capture != DdlCapture.EventTrigger || existing == 2) return null;
        try
        {
            await ServerObjects.ExecAsync(conn, $"DROP EVENT TRIGGER IF EXISTS {CommandEndTrigger}; DROP EVENT TRIGGER IF EXISTS {DropTrigger}; {EventTriggerSql}", ct).ConfigureAwait(false);
            return null;
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InsufficientPrivilege)
        {
            return $"node '{node.Name}': {PgMultiMasterOptions.SectionName}:Ddl:Capture is EventTrigger, but pgmm's role may not create event " +
                   $"triggers ({e.MessageText}). Everything else is in place. As a superuser (or rds_superuser), run on that database: " +
                   $"{EventTriggerSql} Then run init again. Or set {PgMultiMasterOptions.SectionName}:Ddl:Capture to Function and " +
                   "run schema changes through pgmm.replicate_ddl('...').";
        }
    }

    /// <summary>
    /// For <c>check</c>: the event triggers are chosen, the catalog has their functions (init ran), but they are not
    /// there, so schema changes on this node would not replicate. Null when all is well.
    /// </summary>
    public static async Task<string?> MissingEventTriggersAsync(NpgsqlConnection conn, NodeOptions node, PgMultiMasterOptions options, CancellationToken ct)
    {
        if (options.Ddl.Capture != DdlCapture.EventTrigger) return null;
        // A superuser's init creates them; anyone else needs one to.
        await using (var installed = new NpgsqlCommand(
            "SELECT pg_catalog.to_regproc('pgmm.ddl_capture') IS NOT NULL AND NOT (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user)", conn))
            if (!(bool)(await installed.ExecuteScalarAsync(ct).ConfigureAwait(false))!) return null;
        if (await CountTriggersAsync(conn, ct).ConfigureAwait(false) == 2) return null;
        return $"node '{node.Name}': {PgMultiMasterOptions.SectionName}:Ddl:Capture is EventTrigger, but the event triggers are missing, so schema " +
               $"changes made there would not replicate. As a superuser (or rds_superuser), run on that database: {EventTriggerSql}";
    }

    private static async Task<long> CountTriggersAsync(NpgsqlConnection conn, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("SELECT pg_catalog.count(*) FROM pg_catalog.pg_event_trigger WHERE evtname = ANY($1) AND evtenabled <> 'D'", conn);
        cmd.Parameters.Add(new NpgsqlParameter { Value = new[] { CommandEndTrigger, DropTrigger } });
        return (long)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
    }

    /// <summary>
    /// A configured pattern as two anchored PostgreSQL regular expressions (schema, table) that match what
    /// <see cref="TablePattern"/> matches: <c>*</c> any part of a name, optional double quotes, names exact.
    /// </summary>
    public static (string Schema, string Table) Regexes(string pattern)
    {
        var dot = pattern.IndexOf('.', StringComparison.Ordinal);
        if (dot <= 0 || dot == pattern.Length - 1) throw new ArgumentException($"'{pattern}' is not schema.table.", nameof(pattern));
        return (ToRegex(pattern[..dot]), ToRegex(pattern[(dot + 1)..]));
    }

    private static string ToRegex(string part)
    {
        if (part.Length >= 2 && part[0] == '"' && part[^1] == '"') part = part[1..^1].Replace("\"\"", "\"", StringComparison.Ordinal);
        var regex = new StringBuilder("^");
        foreach (var c in part)
        {
            if (c == '*') regex.Append(".*");
            // In PostgreSQL's regular expressions a backslash before a character that is not alphanumeric makes it literal.
            else if (!char.IsLetterOrDigit(c)) regex.Append('\\').Append(c);
            else regex.Append(c);
        }
        return regex.Append('$').ToString();
    }
}
