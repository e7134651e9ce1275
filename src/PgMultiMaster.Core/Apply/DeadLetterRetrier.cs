using Npgsql;
using NpgsqlTypes;
using PgMultiMaster.Configuration;
using PgMultiMaster.Conflicts;
using PgMultiMaster.Decoding;
using PgMultiMaster.Failures;
using PgMultiMaster.Topology;

namespace PgMultiMaster.Apply;

/// <summary>
/// Retries a link's parked changes (<see cref="DeadLetters"/>) that may now succeed, or that a person asked to retry,
/// each in its own transaction that carries the change's original commit timestamp and origin.
/// </summary>
internal sealed class DeadLetterRetrier(TargetTransaction tx, ApplyContext ctx, Link link, ConflictOptions rules)
{
    /// <summary>Retries what is due (between transactions); returns how many now applied.</summary>
    public async Task<int> RetryAsync(TimeSpan interval, CancellationToken ct)
    {
        var (parked, unreadable) = await ReadDueAsync(interval, ct).ConfigureAwait(false);
        foreach (var (id, why) in unreadable)
        {
            await using var note = new NpgsqlCommand(
                "UPDATE pgmm.dead_letter SET retryable = false, force = false, attempts = attempts + 1, " +
                "last_attempt_at = pg_catalog.clock_timestamp(), last_error = $2 WHERE id = $1", tx.Connection);
            note.Parameters.Add(new NpgsqlParameter { Value = id });
            note.Parameters.Add(new NpgsqlParameter { Value = why });
            await note.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }

        var applied = 0;
        foreach (var (id, change, truncate, commitTs, lsn, force) in parked)
        {
            ctx.CommitTimestamp = commitTs;
            ctx.CommitLsn = lsn;
            // Counted before it runs: an attempt that takes the connection down with it (Npgsql drops it on XX errors)
            // still counts, so its backoff grows instead of the link trying it again at every pass.
            await using (var attempt = new NpgsqlCommand(
                "UPDATE pgmm.dead_letter SET attempts = attempts + 1, last_attempt_at = pg_catalog.clock_timestamp() WHERE id = $1", tx.Connection))
            {
                attempt.Parameters.Add(new NpgsqlParameter { Value = id });
                await attempt.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }
            try
            {
                if (truncate is not null)
                {
                    await using var batch = new NpgsqlBatch(tx.Connection);
                    tx.AddBegin(batch);
                    batch.BatchCommands.Add(new NpgsqlBatchCommand(truncate));
                    tx.Begun = true;
                    await batch.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }
                else await RetryChangeAsync(change!, force, ct).ConfigureAwait(false);
                await using (var finish = new NpgsqlBatch(tx.Connection))
                {
                    var delete = new NpgsqlBatchCommand("DELETE FROM pgmm.dead_letter WHERE id = $1");
                    delete.Parameters.Add(new NpgsqlParameter { Value = id });
                    finish.BatchCommands.Add(delete);
                    TargetTransaction.AddCommit(finish, new TransactionCommit(lsn, tx.Progress, commitTs), ctx.OriginName);
                    await tx.ExecuteCommitAsync(finish, ct).ConfigureAwait(false);
                }
                tx.Counters.AddRows(tx.Tally); // the conflict, if it met one, now that it committed
                tx.Begun = false;
                applied++;
            }
            catch (Exception e) when (e is PostgresException p && FailureClassifier.IsDataError(p) || e is SchemaMismatchException or StillParkedException)
            {
                await tx.RollbackAsync().ConfigureAwait(false);
                await using var note = new NpgsqlCommand(
                    "UPDATE pgmm.dead_letter SET last_error = $2, force = false WHERE id = $1", tx.Connection);
                note.Parameters.Add(new NpgsqlParameter { Value = id });
                note.Parameters.Add(new NpgsqlParameter { Value = e.Message });
                await note.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }
        }
        return applied;
    }

    /// <summary>
    /// The parked rows due for a retry: a row change, or the statement of a parked TRUNCATE (only ever retried when a
    /// person asks); and the rows that cannot be read back, with why.
    /// </summary>
    private async Task<(List<(long Id, RowChange? Change, string? Truncate, DateTime CommitTs, ulong Lsn, bool Force)> Parked,
        List<(long Id, string Why)> Unreadable)> ReadDueAsync(TimeSpan interval, CancellationToken ct)
    {
        var parked = new List<(long Id, RowChange? Change, string? Truncate, DateTime CommitTs, ulong Lsn, bool Force)>();
        var unreadable = new List<(long Id, string Why)>();
        await using var cmd = new NpgsqlCommand(
            """
            SELECT id, schema_name, relation_name, operation, columns::text, replica_identity, old_row::text, new_row::text,
                   remote_commit_ts, remote_lsn, force
            FROM pgmm.dead_letter
            WHERE origin_name = $1 AND (force OR (retryable AND (last_attempt_at IS NULL
                  OR last_attempt_at < pg_catalog.clock_timestamp() - $2::interval * least(attempts, 12))))
            ORDER BY id LIMIT 100
            """, tx.Connection);
        cmd.Parameters.Add(new NpgsqlParameter { Value = link.OriginName });
        cmd.Parameters.Add(new NpgsqlParameter { Value = interval });
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false))
        {
            try
            {
                var truncate = r.GetString(3) == "truncate";
                parked.Add((r.GetInt64(0),
                    truncate ? null : DeadLetters.Restore(r.GetString(1), r.GetString(2), r.GetString(3), r.GetString(4), r.GetString(5),
                        r.IsDBNull(6) ? null : r.GetString(6), r.IsDBNull(7) ? null : r.GetString(7)),
                    truncate ? DeadLetters.RestoreTruncate(r.GetString(7)) : null,
                    r.GetDateTime(8), (ulong)r.GetFieldValue<NpgsqlLogSequenceNumber>(9), r.GetBoolean(10)));
            }
            // A row edited by hand, or written by another version, whatever is wrong with it: it is set aside with
            // the reason, never retried again, and the link goes on.
            catch (Exception e) when (e is not OperationCanceledException and not NpgsqlException)
            {
                unreadable.Add((r.GetInt64(0), $"cannot be read back, not retried: {e.GetType().Name}: {e.Message}"));
            }
        }
        return (parked, unreadable);
    }

    /// <summary>One parked change, guarded and resolved by the rules (one a person asked for by <see cref="TableRules.Forced"/>).</summary>
    private async Task RetryChangeAsync(RowChange change, bool force, CancellationToken ct)
    {
        var table = await TargetTable.LoadAsync(tx.Connection, change.Relation, link.Target.Name,
            force ? TableRules.Forced(rules, change.Relation.QualifiedName) : new TableRules(rules, change.Relation.QualifiedName), ct).ConfigureAwait(false);
        var retried = change with { Relation = table.Relation };
        if (ChangeStatements.IdentityChange(table, retried) is var (column, was))
            throw new StillParkedException(ChangeStatements.IdentityChangeReason(table, retried, column, was));
        // A key change as the link applies it: a delete and an insert, in this one transaction.
        RowChange[] parts = ChangeStatements.IsKeyChange(table, retried)
            ? [retried with { Kind = ChangeKind.Delete, New = null }, retried with { Kind = ChangeKind.Insert, Old = null }]
            : [retried];
        foreach (var part in parts) await RetryPartAsync(table, part, ct).ConfigureAwait(false);
    }

    private async Task RetryPartAsync(TargetTable table, RowChange change, CancellationToken ct)
    {
        await using var batch = new NpgsqlBatch(tx.Connection);
        tx.AddBegin(batch);
        batch.BatchCommands.Add(ChangeStatements.Guarded(table, change, ctx));
        // Begun before it runs: a change failing again leaves the transaction open and aborted, and only a ROLLBACK
        // lets the note be written (else 25P02, and the link backs off at every retry).
        tx.Begun = true;
        bool ok;
        await using (var reader = await batch.ExecuteReaderAsync(ct).ConfigureAwait(false))
            ok = await reader.ReadAsync(ct).ConfigureAwait(false) && reader.GetBoolean(0);
        if (ok) return;
        if (await ConflictHandler.HandleAsync(tx.Connection, table, change, ctx, ct).ConfigureAwait(false) is not var (type, resolution))
            throw new StillParkedException("an identity column it cannot write differs: " + change.Relation.QualifiedName);
        if (resolution == "dead_letter") throw new StillParkedException("the rules park it again: the conflict remains");
        tx.Tally.AddConflict(change, type.Name(), resolution);
    }

    private sealed class StillParkedException(string message) : Exception(message);
}
