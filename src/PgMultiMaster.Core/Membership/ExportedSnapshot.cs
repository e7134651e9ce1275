using Npgsql;
using Npgsql.Replication;
using PgMultiMaster.Setup;
using PgMultiMaster.Sql;
using PgMultiMaster.Topology;

namespace PgMultiMaster.Membership;

/// <summary>
/// A link's slot created with its snapshot exported: the snapshot holds exactly the transactions the slot will not
/// send (those that committed before its consistent point), so a copy taken in it and the slot's stream together
/// hold every transaction once. The snapshot lives while the replication connection stays idle: sessions import it
/// (<see cref="ImportAsync"/>), then <see cref="DisposeAsync"/> closes the connection; the slot stays.
/// </summary>
public sealed class ExportedSnapshot : IAsyncDisposable
{
    private readonly LogicalReplicationConnection _connection;

    private ExportedSnapshot(LogicalReplicationConnection connection, string name, ulong consistentPoint) =>
        (_connection, Name, ConsistentPoint) = (connection, name, consistentPoint);

    public string Name { get; }

    /// <summary>Where the slot's stream starts: every transaction committed before it is in the snapshot.</summary>
    public ulong ConsistentPoint { get; }

    /// <summary>Creates the slot of <paramref name="link"/> on its source (waits for the transactions open there to end), and its record.</summary>
    public static async Task<ExportedSnapshot> CreateAsync(Link link, CancellationToken ct)
    {
        var connection = new LogicalReplicationConnection(ConnectionStrings.ForReplication(link.Source.ConnectionString, $"pgmm copy {link}"));
        try
        {
            await connection.Open(ct).ConfigureAwait(false);
            var slot = await connection.CreatePgOutputReplicationSlot(link.SlotName, temporarySlot: false,
                slotSnapshotInitMode: LogicalSlotSnapshotInitMode.Export, cancellationToken: ct).ConfigureAwait(false);
            // On another connection: this one must stay idle while the snapshot is imported.
            await using (var conn = await ConnectionStrings.OpenAdminAsync(link.Source.ConnectionString, $"pgmm copy {link}", ct).ConfigureAwait(false))
                await ServerObjects.RecordNewSlotAsync(conn, link.SlotName, ct).ConfigureAwait(false);
            return new ExportedSnapshot(connection, slot.SnapshotName!, (ulong)slot.ConsistentPoint);
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Opens a read-only repeatable-read transaction on the source that sees exactly the snapshot.</summary>
    public async Task<NpgsqlConnection> ImportAsync(string sourceConnectionString, string applicationName, CancellationToken ct)
    {
        var conn = await ConnectionStrings.OpenAdminAsync(sourceConnectionString, applicationName, ct).ConfigureAwait(false);
        try
        {
            await using var cmd = new NpgsqlCommand(
                $"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT {Quote.Literal(Name)}", conn);
            await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            return conn;
        }
        catch
        {
            await conn.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public ValueTask DisposeAsync() => _connection.DisposeAsync();
}
