using Npgsql;

namespace PgMultiMaster.Setup;

/// <summary>
/// What the role in a node's connection string may do, as far as PgMultiMaster needs it. Read by <c>check</c> and
/// <c>init</c>, which name every missing right with the statement that grants it (<see cref="RightsCheck"/>).
/// </summary>
/// <param name="MissingOriginFunctions">Replication-origin functions the role may not execute (signatures).</param>
/// <param name="CanSetReplicaRole">It may <c>SET session_replication_role</c> (superuser, or on 15+ a grant).</param>
/// <param name="CanCreate">It may create schemas and publications in the database.</param>
/// <param name="ForeignCatalog">Objects of an existing pgmm schema that belong to a role whose rights it lacks (kind, name, owner).</param>
public sealed record RoleRights(
    string Role, string Database, int ServerVersion, bool IsSuperuser, bool CanReplicate,
    IReadOnlyList<string> MissingOriginFunctions, bool CanSetReplicaRole, bool CanCreate,
    IReadOnlyList<(string Kind, string Name, string Owner)> ForeignCatalog)
{
    /// <summary>Every replication-origin function PgMultiMaster calls: init creates origins, uninstall drops them, apply uses the rest.</summary>
    public static readonly string[] OriginFunctions =
    [
        "pg_replication_origin_create(text)",
        "pg_replication_origin_drop(text)",
        "pg_replication_origin_session_setup(text)",
        "pg_replication_origin_session_progress(boolean)",
        "pg_replication_origin_xact_setup(pg_lsn, timestamp with time zone)",
    ];

    public static async Task<RoleRights> ReadAsync(NpgsqlConnection conn, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(
            """
            SELECT current_user::text, pg_catalog.current_database()::text,
                   pg_catalog.current_setting('server_version_num')::int, r.rolsuper, r.rolsuper OR r.rolreplication,
                   ARRAY(SELECT f FROM pg_catalog.unnest($1::text[]) f
                         WHERE NOT pg_catalog.has_function_privilege(('pg_catalog.' || f)::regprocedure, 'EXECUTE')),
                   pg_catalog.has_database_privilege(pg_catalog.current_database(), 'CREATE'),
                   -- the schema itself, then its tables (their sequences and indexes follow them) and functions
                   ARRAY(SELECT k || ' ' || o || ' ' || pg_catalog.pg_get_userbyid(w) FROM (
                           SELECT 'schema' AS k, 'pgmm' AS o, n.nspowner AS w FROM pg_namespace n WHERE n.nspname = 'pgmm'
                           UNION ALL
                           SELECT 'table', 'pgmm.' || c.relname, c.relowner FROM pg_class c
                           WHERE c.relnamespace = pg_catalog.to_regnamespace('pgmm') AND c.relkind IN ('r', 'p')
                           UNION ALL
                           SELECT 'function', 'pgmm.' || p.proname || '()', p.proowner FROM pg_proc p
                           WHERE p.pronamespace = pg_catalog.to_regnamespace('pgmm')) x
                         WHERE NOT pg_catalog.pg_has_role(w, 'USAGE') ORDER BY 1)
            FROM pg_roles r WHERE r.rolname = current_user
            """, conn);
        cmd.Parameters.Add(new NpgsqlParameter { Value = OriginFunctions });
        RoleRights rights;
        await using (var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false))
        {
            await r.ReadAsync(ct).ConfigureAwait(false);
            var foreign = r.GetFieldValue<string[]>(7).Select(x => x.Split(' ', 3)).Select(x => (x[0], x[1], x[2])).ToList();
            rights = new RoleRights(r.GetString(0), r.GetString(1), r.GetInt32(2), r.GetBoolean(3), r.GetBoolean(4),
                r.GetFieldValue<string[]>(5), r.GetBoolean(3), r.GetBoolean(6), foreign);
        }
        // SET on a parameter can be granted from PostgreSQL 15; before that only a superuser may set this one.
        if (!rights.IsSuperuser && rights.ServerVersion >= 150000)
        {
            await using var set = new NpgsqlCommand("SELECT pg_catalog.has_parameter_privilege('session_replication_role', 'SET')", conn);
            rights = rights with { CanSetReplicaRole = (bool)(await set.ExecuteScalarAsync(ct).ConfigureAwait(false))! };
        }
        return rights;
    }
}
