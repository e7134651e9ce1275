using Npgsql;
using PgMultiMaster.Sql;
using PgMultiMaster.Topology;

namespace PgMultiMaster.Setup;

/// <summary>
/// Drops what <c>pgmm init</c> created on one node: slots with their records, origins, and the node's own objects
/// (tombstone triggers, publications, its claim in <c>pgmm.node</c>). Shared by <c>uninstall</c> (every node) and
/// <c>node remove</c> (one node, and the survivors' objects that concern it). Each drop is a no-op when the object is gone.
/// </summary>
internal static class ServerObjects
{
    /// <summary>Whether the node's pgmm schema has <c>pgmm.slot_progress</c> (version 6 and later).</summary>
    public static async Task<bool> HasSlotRecordsAsync(NpgsqlConnection conn, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("SELECT pg_catalog.to_regclass('pgmm.slot_progress') IS NOT NULL", conn);
        return (bool)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
    }

    /// <summary>
    /// The slot's record, the slot, and the record again. A slot missing while it has a record is reported lost
    /// (ADR 0013), so the record goes first; a link that read the slot in between may have written it anew, so it goes
    /// last too. Fails with 55006 while a walsender holds the slot.
    /// </summary>
    public static async Task DropSlotAsync(NpgsqlConnection conn, string slot, bool recorded, CancellationToken ct)
    {
        if (recorded) await ExecAsync(conn, "DELETE FROM pgmm.slot_progress WHERE slot_name = $1", ct, slot).ConfigureAwait(false);
        await ExecAsync(conn, "SELECT pg_catalog.pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND database = pg_catalog.current_database()", ct, slot).ConfigureAwait(false);
        if (recorded) await ExecAsync(conn, "DELETE FROM pgmm.slot_progress WHERE slot_name = $1", ct, slot).ConfigureAwait(false);
    }

    /// <summary>
    /// A new slot has let go of nothing a link applied: whatever a slot of this name recorded before (one that was
    /// dropped or lost, see ADR 0013) no longer applies. Written after the slot exists, so there is never a record
    /// of a slot that is missing only because it is being created.
    /// </summary>
    public static Task RecordNewSlotAsync(NpgsqlConnection conn, string slot, CancellationToken ct) =>
        ExecAsync(conn, """
            INSERT INTO pgmm.slot_progress (slot_name, applied_lsn) VALUES ($1, '0/0')
            ON CONFLICT (slot_name) DO UPDATE SET applied_lsn = '0/0', recorded_at = pg_catalog.clock_timestamp()
            """, ct, slot);

    /// <summary>Fails with 55006 while an apply session holds the origin.</summary>
    public static Task DropOriginAsync(NpgsqlConnection conn, string origin, CancellationToken ct) =>
        ExecAsync(conn, "SELECT pg_catalog.pg_replication_origin_drop(roname) FROM pg_replication_origin WHERE roname = $1", ct, origin);

    /// <summary>The tombstone triggers on every table of the database, the cluster's publications and the node's claim.</summary>
    public static async Task DropNodeObjectsAsync(NpgsqlConnection conn, ClusterTopology topology, CancellationToken ct)
    {
        await ExecAsync(conn, """
            DO $$ DECLARE t regclass; BEGIN
              FOR t IN SELECT DISTINCT tgrelid::regclass FROM pg_trigger WHERE tgname IN ('pgmm_tombstone', 'pgmm_tombstone_key') LOOP
                EXECUTE pg_catalog.format('DROP TRIGGER IF EXISTS pgmm_tombstone ON %s; DROP TRIGGER IF EXISTS pgmm_tombstone_key ON %s', t, t);
              END LOOP;
            END $$
            """, ct).ConfigureAwait(false);
        // The DDL event triggers serve every cluster of the database: they stay (a no-op once no cluster captures by them).
        await ExecAsync(conn, "DELETE FROM pgmm.ddl_settings WHERE cluster = $1 AND pg_catalog.to_regclass('pgmm.ddl_settings') IS NOT NULL", ct, topology.Options.Cluster).ConfigureAwait(false);
        await ExecAsync(conn, $"DROP PUBLICATION IF EXISTS {Quote.Ident(topology.Publication)}, {Quote.Ident(topology.InsertOnlyPublication)}", ct).ConfigureAwait(false);
        await ExecAsync(conn, "DELETE FROM pgmm.node WHERE cluster = $1 AND pg_catalog.to_regclass('pgmm.node') IS NOT NULL", ct, topology.Options.Cluster).ConfigureAwait(false);
    }

    public static async Task ExecAsync(NpgsqlConnection conn, string sql, CancellationToken ct, params object[] args)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        foreach (var a in args) cmd.Parameters.Add(new NpgsqlParameter { Value = a });
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }
}
