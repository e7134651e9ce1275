using Microsoft.Extensions.Logging;
using Npgsql;
using NpgsqlTypes;
using PgMultiMaster.Configuration;
using PgMultiMaster.Decoding;
using PgMultiMaster.Diagnostics;
using PgMultiMaster.Sql;
using PgMultiMaster.Topology;

namespace PgMultiMaster.Apply;

/// <summary>
/// The apply side of one link: a session on the target that replays each source transaction as one target
/// transaction, sent in pipelined batches, and commits the replication origin's progress with the data
/// (<c>pg_replication_origin_xact_setup</c>), so a restart resumes exactly after the last applied transaction.
/// </summary>
internal sealed class TargetSession : IAsyncDisposable
{
    private readonly NpgsqlConnection _conn;
    private readonly Link _link;
    private readonly ApplyOptions _options;
    private readonly Dictionary<uint, TargetTable> _tables = [];
    private readonly StatementBuilder _statements = new();
    private NpgsqlBatch _batch;
    private readonly List<RowChange?> _pending = [];
    private bool _inTransaction;

    /// <summary>End LSN of the last source transaction committed here (the origin's progress).</summary>
    public ulong Progress { get; private set; }

    public long RowsApplied { get; private set; }

    private TargetSession(NpgsqlConnection conn, Link link, ApplyOptions options)
    {
        _conn = conn;
        _link = link;
        _options = options;
        _batch = new NpgsqlBatch(conn);
    }

    public static async Task<TargetSession> OpenAsync(Link link, ApplyOptions options, ILogger logger, CancellationToken ct)
    {
        var conn = new NpgsqlConnection(ConnectionStrings.ForApply(link.Target.ConnectionString, $"pgmm apply {link}"));
        try
        {
            await conn.OpenAsync(ct).ConfigureAwait(false);
            if (options.ReplicaRole)
            {
                try
                {
                    await Exec(conn, "SET session_replication_role = replica", ct).ConfigureAwait(false);
                }
                catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InsufficientPrivilege)
                {
                    Log.ReplicaRoleDenied(logger, link.ToString(), link.Target.Name);
                }
            }
            // An origin is held by one session at a time: a previous worker's session still open makes this fail
            // (55006), and the link retries until the server has ended it.
            await using (var setup = new NpgsqlCommand("SELECT pg_replication_origin_session_setup($1)", conn))
            {
                setup.Parameters.Add(new NpgsqlParameter { Value = link.OriginName });
                await setup.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }
            var session = new TargetSession(conn, link, options);
            await using (var progress = new NpgsqlCommand("SELECT pg_replication_origin_session_progress(true)", conn))
            {
                var value = await progress.ExecuteScalarAsync(ct).ConfigureAwait(false);
                session.Progress = value is NpgsqlLogSequenceNumber lsn ? (ulong)lsn : 0;
            }
            return session;
        }
        catch
        {
            await conn.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>A relation was (re)described by the source: learn how to find its rows here.</summary>
    public async Task DescribeAsync(RelationInfo relation, CancellationToken ct)
    {
        await FlushAsync(ct).ConfigureAwait(false);
        _statements.Forget(relation.Id);
        _tables[relation.Id] = await TargetTable.LoadAsync(_conn, relation, _link.Target.Name, ct).ConfigureAwait(false);
    }

    public async Task ApplyAsync(RowChange change, CancellationToken ct)
    {
        BeginIfNeeded();
        var table = _tables[change.Relation.Id];
        _batch.BatchCommands.Add(_statements.Build(table, change));
        _pending.Add(change);
        if (_batch.BatchCommands.Count >= _options.BatchSize)
            await FlushAsync(ct).ConfigureAwait(false);
    }

    public async Task TruncateAsync(TableTruncate truncate, CancellationToken ct)
    {
        BeginIfNeeded();
        var sql = "TRUNCATE " + string.Join(", ", truncate.Relations.Select(r => Quote.Table(r.Schema, r.Name)))
            + (truncate.RestartIdentity ? " RESTART IDENTITY" : "") + (truncate.Cascade ? " CASCADE" : "");
        AddCommand(sql);
        await FlushAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Commits the target transaction together with the origin's progress; nothing to do if it applied no change.</summary>
    public async Task CommitAsync(TransactionCommit commit, CancellationToken ct)
    {
        if (!_inTransaction) return;
        var setup = new NpgsqlBatchCommand("SELECT pg_replication_origin_xact_setup($1, $2)");
        setup.Parameters.Add(new NpgsqlParameter { Value = new NpgsqlLogSequenceNumber(commit.EndLsn), NpgsqlDbType = NpgsqlDbType.PgLsn });
        setup.Parameters.Add(new NpgsqlParameter { Value = commit.CommitTimestamp, NpgsqlDbType = NpgsqlDbType.TimestampTz });
        _batch.BatchCommands.Add(setup);
        _pending.Add(null);
        AddCommand("COMMIT");
        await FlushAsync(ct).ConfigureAwait(false);
        _inTransaction = false;
        Progress = commit.EndLsn;
    }

    /// <summary>Abandons an open transaction (after a failure, or when the stream broke mid-transaction).</summary>
    public async Task RollbackAsync()
    {
        ResetBatch();
        if (!_inTransaction) return;
        _inTransaction = false;
        if (_conn.FullState != System.Data.ConnectionState.Open) return;
        try { await Exec(_conn, "ROLLBACK", CancellationToken.None).ConfigureAwait(false); }
        catch (NpgsqlException) { /* the connection is gone and took the transaction with it */ }
    }

    public async ValueTask DisposeAsync()
    {
        await RollbackAsync().ConfigureAwait(false);
        await _batch.DisposeAsync().ConfigureAwait(false);
        await _conn.DisposeAsync().ConfigureAwait(false);
    }

    private void BeginIfNeeded()
    {
        if (_inTransaction) return;
        AddCommand("BEGIN");
        _inTransaction = true;
    }

    private void AddCommand(string sql)
    {
        _batch.BatchCommands.Add(new NpgsqlBatchCommand(sql));
        _pending.Add(null);
    }

    private async Task FlushAsync(CancellationToken ct)
    {
        if (_batch.BatchCommands.Count == 0) return;
        await _batch.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        for (var i = 0; i < _pending.Count; i++)
        {
            var change = _pending[i];
            if (change is null) continue;
            if (change.Kind != ChangeKind.Insert && _batch.BatchCommands[i].RecordsAffected == 0)
                throw new MissingRowException(
                    $"{(change.Kind == ChangeKind.Update ? "update_missing" : "delete_missing")}: no row of " +
                    $"{change.Relation.QualifiedName} with key {KeyText(change)} on node '{_link.Target.Name}'.");
            RowsApplied++;
        }
        ResetBatch();
    }

    private void ResetBatch()
    {
        _batch.BatchCommands.Clear();
        _pending.Clear();
    }

    private string KeyText(RowChange change)
    {
        var table = _tables[change.Relation.Id];
        var row = change.Old ?? change.New!;
        return "(" + string.Join(", ", table.MatchColumns.Select(i => $"{change.Relation.Columns[i].Name}={row[i]}")) + ")";
    }

    private static async Task Exec(NpgsqlConnection conn, string sql, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }
}
