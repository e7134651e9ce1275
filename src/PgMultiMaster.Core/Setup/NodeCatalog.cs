using Npgsql;

namespace PgMultiMaster.Setup;

/// <summary>A user table as one node's catalog describes it.</summary>
public sealed record CatalogTable(
    string Schema, string Name, char ReplicaIdentity, bool HasPrimaryKey, bool HasIdentityIndex,
    IReadOnlyList<string> Columns)
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
public sealed record NodeCatalog(
    int ServerVersion, string WalLevel, bool TrackCommitTimestamp, int MaxReplicationSlots, int MaxWalSenders,
    IReadOnlyList<string> SlotNames, bool CanReplicate, string Role, IReadOnlyList<CatalogTable> Tables)
{
    public static async Task<NodeCatalog> ReadAsync(NpgsqlConnection conn, CancellationToken ct)
    {
        NodeCatalog catalog;
        await using (var cmd = new NpgsqlCommand(
            """
            SELECT current_setting('server_version_num')::int, current_setting('wal_level'),
                   current_setting('track_commit_timestamp') = 'on',
                   current_setting('max_replication_slots')::int, current_setting('max_wal_senders')::int,
                   ARRAY(SELECT slot_name::text FROM pg_replication_slots ORDER BY 1),
                   (SELECT rolsuper OR rolreplication FROM pg_roles WHERE rolname = current_user), current_user::text
            """, conn))
        {
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await r.ReadAsync(ct).ConfigureAwait(false);
            catalog = new NodeCatalog(r.GetInt32(0), r.GetString(1), r.GetBoolean(2), r.GetInt32(3), r.GetInt32(4),
                r.GetFieldValue<string[]>(5), r.GetBoolean(6), r.GetString(7), []);
        }

        var tables = new List<CatalogTable>();
        await using (var cmd = new NpgsqlCommand(
            """
            SELECT n.nspname::text, c.relname::text, c.relreplident::text,
                   EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary),
                   EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisreplident),
                   ARRAY(SELECT a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                               || CASE WHEN a.attgenerated <> '' THEN ' (generated)' ELSE '' END
                         FROM pg_attribute a
                         WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attname)
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind = 'r' AND NOT c.relispartition
              AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pgmm') AND n.nspname NOT LIKE 'pg\_%'
            ORDER BY 1, 2
            """, conn))
        {
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false))
                tables.Add(new CatalogTable(r.GetString(0), r.GetString(1), r.GetString(2)[0], r.GetBoolean(3), r.GetBoolean(4),
                    r.GetFieldValue<string[]>(5)));
        }
        return catalog with { Tables = tables };
    }
}
