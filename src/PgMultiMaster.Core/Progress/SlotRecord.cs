using Npgsql;
using NpgsqlTypes;
using PgMultiMaster.Sql;
using PgMultiMaster.Topology;

namespace PgMultiMaster.Progress;

/// <summary>
/// The source's side of gap detection (ADR 0013): reads a link's slot, and keeps <c>pgmm.slot_progress</c> — the end
/// LSN of the last applied transaction the slot may let go of — written durably before the slot is confirmed past it.
/// </summary>
internal sealed class SlotRecord : IAsyncDisposable
{
    private readonly NpgsqlConnection _conn;
    private readonly Link _link;

    private SlotRecord(NpgsqlConnection conn, Link link)
    {
        _conn = conn;
        _link = link;
    }

    public static async Task<SlotRecord> OpenAsync(Link link, CancellationToken ct)
    {
        var conn = await ConnectionStrings.OpenAdminAsync(link.Source.ConnectionString, $"pgmm slot {link}", ct).ConfigureAwait(false);
        try
        {
            // The record must be on disk before the slot passes it, whatever the server's default; standbys need not
            // have it (a source that fails over loses its slots anyway).
            await using var sync = new NpgsqlCommand("SET synchronous_commit = local", conn);
            await sync.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            return new SlotRecord(conn, link);
        }
        catch
        {
            await conn.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private const string Select = """
        SELECT n.name, s.slot_name IS NOT NULL, s.confirmed_flush_lsn, s.wal_status,
               -- newer columns, read so that every supported version answers
               pg_catalog.to_jsonb(s) ->> 'invalidation_reason', coalesce((pg_catalog.to_jsonb(s) ->> 'conflicting')::boolean, false),
               {0}, pg_catalog.pg_current_wal_lsn()
        FROM pg_catalog.unnest($1::text[]) AS n(name)
        LEFT JOIN pg_catalog.pg_replication_slots s ON s.slot_name = n.name
        {1}
        """;

    /// <summary>
    /// The facts of the named slots on the node <paramref name="conn"/> is connected to. On a node whose pgmm schema
    /// predates the record (version 6), the slots are read without it.
    /// </summary>
    public static async Task<Dictionary<string, SlotFacts>> ReadAsync(NpgsqlConnection conn, IReadOnlyCollection<string> slots, CancellationToken ct)
    {
        try
        {
            return await ReadAsync(conn, slots, string.Format(System.Globalization.CultureInfo.InvariantCulture, Select,
                "p.applied_lsn", "LEFT JOIN pgmm.slot_progress p ON p.slot_name = n.name"), ct).ConfigureAwait(false);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            return await ReadAsync(conn, slots, string.Format(System.Globalization.CultureInfo.InvariantCulture, Select, "NULL::pg_lsn", ""), ct).ConfigureAwait(false);
        }
    }

    private static async Task<Dictionary<string, SlotFacts>> ReadAsync(NpgsqlConnection conn, IReadOnlyCollection<string> slots, string sql, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        cmd.Parameters.Add(new NpgsqlParameter { Value = slots.ToArray() });
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        var facts = new Dictionary<string, SlotFacts>();
        while (await r.ReadAsync(ct).ConfigureAwait(false))
            facts[r.GetString(0)] = new SlotFacts(r.GetString(0), r.GetBoolean(1),
                r.IsDBNull(2) ? 0 : (ulong)r.GetFieldValue<NpgsqlLogSequenceNumber>(2), r.IsDBNull(3) ? null : r.GetString(3),
                r.IsDBNull(4) ? null : r.GetString(4), r.GetBoolean(5), r.IsDBNull(6) ? null : (ulong)r.GetFieldValue<NpgsqlLogSequenceNumber>(6),
                (ulong)r.GetFieldValue<NpgsqlLogSequenceNumber>(7));
        return facts;
    }

    /// <summary>This link's slot, with its record (a pgmm schema older than version 6 must be upgraded first).</summary>
    public async Task<SlotFacts> ReadAsync(CancellationToken ct)
    {
        await using (var exists = new NpgsqlCommand("SELECT pg_catalog.to_regclass('pgmm.slot_progress') IS NOT NULL", _conn))
            if (!(bool)(await exists.ExecuteScalarAsync(ct).ConfigureAwait(false))!)
                throw new NotInitializedException($"node '{_link.Source.Name}' has no pgmm.slot_progress (pgmm schema version 6): run pgmm init to upgrade it");
        return (await ReadAsync(_conn, [_link.SlotName], ct).ConfigureAwait(false))[_link.SlotName];
    }

    /// <summary>
    /// A slot made by hand or by a version before the record: from now on it is recorded, starting from 0/0 (nothing
    /// applied known to be let go of).
    /// </summary>
    public async Task EnsureAsync(CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("INSERT INTO pgmm.slot_progress (slot_name, applied_lsn) VALUES ($1, '0/0') ON CONFLICT (slot_name) DO NOTHING", _conn);
        cmd.Parameters.Add(new NpgsqlParameter { Value = _link.SlotName });
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    /// <summary>The slot may let go of applied transactions up to <paramref name="applied"/>; durable when this returns.</summary>
    public async Task RecordAsync(ulong applied, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("""
            INSERT INTO pgmm.slot_progress AS p (slot_name, applied_lsn) VALUES ($1, $2)
            ON CONFLICT (slot_name) DO UPDATE SET applied_lsn = GREATEST(p.applied_lsn, excluded.applied_lsn), recorded_at = pg_catalog.clock_timestamp()
            """, _conn);
        cmd.Parameters.Add(new NpgsqlParameter { Value = _link.SlotName });
        cmd.Parameters.Add(new NpgsqlParameter { Value = new NpgsqlLogSequenceNumber(applied), NpgsqlDbType = NpgsqlDbType.PgLsn });
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    public ValueTask DisposeAsync() => _conn.DisposeAsync();

    /// <summary>
    /// The slot, or the source's pgmm schema at version 6, does not exist yet: retried, as the fix (<c>pgmm init</c>)
    /// needs no restart of the worker.
    /// </summary>
    public sealed class NotInitializedException(string message) : Exception(message);
}
