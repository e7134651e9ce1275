using Dapper;
using Npgsql;

namespace PgMultiMaster.Setup;

/// <summary>A user table as one node's catalog describes it.</summary>
/// <param name="Owner">The role that owns the table.</param>
/// <param name="Owned">The connected role owns it or has its owner's rights (needed to publish it and install triggers).</param>
public sealed record CatalogTable(
    string Schema, string Name, char ReplicaIdentity, bool HasPrimaryKey, bool HasIdentityIndex,
    IReadOnlyList<string> Columns, bool IsPartitioned = false, string Owner = "", bool Owned = true)
{
    public string QualifiedName => $"{Schema}.{Name}";

    /// <summary>Updates and deletes can find their row on the other nodes.</summary>
    public bool HasUsableIdentity => ReplicaIdentity switch
    {
        'd' => HasPrimaryKey,
        'i' => HasIdentityIndex,
        'f' => true,
        _ => false,
    };
}

/// <summary>Settings and tables of one node, read for <c>pgmm init</c> and <c>pgmm check</c>.</summary>
/// <param name="Slots">Every slot on the server: name, plugin and database.</param>
/// <param name="ClaimedAs">Node names this database already is, per cluster (pgmm.node), if init ran before.</param>
/// <param name="Publications">Every publication of the database.</param>
/// <param name="HasCatalog">The pgmm schema exists (init ran before).</param>
/// <param name="Encoding">The database's encoding (server_encoding).</param>
/// <param name="SystemId">The server's system identifier and the database's oid: the same pair is the same database.</param>
public sealed record NodeCatalog(
    int ServerVersion, string WalLevel, bool TrackCommitTimestamp, int MaxReplicationSlots, int MaxWalSenders, string Encoding,
    (string System, uint Database) SystemId,
    IReadOnlyList<(string Name, string Plugin, string Database)> Slots, string Database, RoleRights Rights,
    IReadOnlyList<string> Publications, bool HasCatalog, IReadOnlyDictionary<string, string> ClaimedAs, IReadOnlyList<CatalogTable> Tables)
{
    public static async Task<NodeCatalog> ReadAsync(NpgsqlConnection conn, CancellationToken ct)
    {
        var rights = await RoleRights.ReadAsync(conn, ct).ConfigureAwait(false);
        NodeCatalog catalog;
        await using (var cmd = new NpgsqlCommand(
            """
            SELECT pg_catalog.current_setting('server_version_num')::int, pg_catalog.current_setting('wal_level'),
                   pg_catalog.current_setting('track_commit_timestamp') = 'on',
                   pg_catalog.current_setting('max_replication_slots')::int, pg_catalog.current_setting('max_wal_senders')::int,
                   pg_catalog.current_setting('server_encoding'),
                   (SELECT system_identifier::text FROM pg_catalog.pg_control_system()),
                   (SELECT oid FROM pg_database WHERE datname = pg_catalog.current_database()),
                   ARRAY(SELECT slot_name::text FROM pg_replication_slots ORDER BY 1),
                   ARRAY(SELECT coalesce(plugin::text, '') FROM pg_replication_slots ORDER BY slot_name),
                   ARRAY(SELECT coalesce(database::text, '') FROM pg_replication_slots ORDER BY slot_name),
                   pg_catalog.current_database()::text,
                   ARRAY(SELECT pubname::text FROM pg_publication ORDER BY 1),
                   pg_catalog.to_regnamespace('pgmm') IS NOT NULL
            """, conn))
        {
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await r.ReadAsync(ct).ConfigureAwait(false);
            var names = r.GetFieldValue<string[]>(8);
            var plugins = r.GetFieldValue<string[]>(9);
            var databases = r.GetFieldValue<string[]>(10);
            catalog = new NodeCatalog(r.GetInt32(0), r.GetString(1), r.GetBoolean(2), r.GetInt32(3), r.GetInt32(4), r.GetString(5), (r.GetString(6), r.GetFieldValue<uint>(7)),
                names.Select((n, i) => (n, plugins[i], databases[i])).ToList(), r.GetString(11), rights,
                r.GetFieldValue<string[]>(12), r.GetBoolean(13), new Dictionary<string, string>(), []);
        }

        var claimed = new Dictionary<string, string>();
        if (await conn.ExecuteScalarAsync<bool>(new CommandDefinition("SELECT pg_catalog.to_regclass('pgmm.node') IS NOT NULL", cancellationToken: ct)).ConfigureAwait(false))
            foreach (var (cluster, name) in await conn.QueryAsync<(string, string)>(new CommandDefinition("SELECT cluster, name FROM pgmm.node", cancellationToken: ct)).ConfigureAwait(false))
                claimed[cluster] = name;

        var tables = new List<CatalogTable>();
        await using (var cmd = new NpgsqlCommand(
            """
            SELECT n.nspname::text, c.relname::text, c.relreplident::text,
                   EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary),
                   EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisreplident),
                   ARRAY(SELECT a.attname || ' ' || pg_catalog.format_type(a.atttypid, a.atttypmod)
                               || CASE WHEN a.attgenerated <> '' THEN ' (generated)' ELSE '' END
                         FROM pg_attribute a
                         WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attname),
                   c.relkind = 'p', pg_catalog.pg_get_userbyid(c.relowner)::text, pg_catalog.pg_has_role(c.relowner, 'USAGE')
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'p')
              AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pgmm') AND n.nspname NOT LIKE 'pg\_%'
            ORDER BY 1, 2
            """, conn))
        {
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false))
                tables.Add(new CatalogTable(r.GetString(0), r.GetString(1), r.GetString(2)[0], r.GetBoolean(3), r.GetBoolean(4),
                    r.GetFieldValue<string[]>(5), r.GetBoolean(6), r.GetString(7), r.GetBoolean(8)));
        }
        return catalog with { Tables = tables, ClaimedAs = claimed };
    }
}
