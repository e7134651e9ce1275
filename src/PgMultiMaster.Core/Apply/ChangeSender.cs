using PgMultiMaster.Configuration;
using Npgsql;
using PgMultiMaster.Conflicts;
using PgMultiMaster.Decoding;
using PgMultiMaster.Failures;

namespace PgMultiMaster.Apply;

/// <summary>
/// Sends the pending changes of the open target transaction the way its <see cref="ApplyMode"/> says: guarded statements
/// in pipelined batches (the first that meets a conflict halts the rest of its batch; that change is resolved on the slow
/// path, <see cref="ConflictHandler"/>, and the statements after it are sent again, so order is kept), insert runs in the
/// optimistic form, or change by change in savepoints, parking what fails (careful).
/// </summary>
internal sealed class ChangeSender(TargetTransaction tx, IReadOnlyDictionary<uint, TargetTable> tables, ApplyContext ctx)
{
    // Position of the next change in the careful replay of the transaction being received.
    private int _carefulOrdinal;

    /// <summary>A new source transaction starts: careful replay counts its changes from the first.</summary>
    public void TransactionStarted() => _carefulOrdinal = 0;

    /// <summary>
    /// Sends <paramref name="items"/> inside the open transaction, resolving conflicts in order. With
    /// <paramref name="optimistic"/>, a batch of insert runs only goes out in the optimistic form; a conflict then
    /// fails the whole target transaction (<see cref="OptimisticBatchException"/>), which is sent again guarded.
    /// In careful mode, <paramref name="poisoned"/> names the changes (by position) parked unsent, and why.
    /// </summary>
    public async Task SendAsync(List<PendingChange> items, ApplyMode mode, bool optimistic, IReadOnlyDictionary<int, string> poisoned,
        CancellationToken ct)
    {
        if (mode == ApplyMode.Careful)
        {
            foreach (var item in items) await ApplyCarefullyAsync(item, poisoned, ct).ConfigureAwait(false);
            return;
        }
        if (optimistic && items.Count > 0 && Segments(items) is var segments && segments.All(s => s.Count > 1))
        {
            await using var batch = new NpgsqlBatch(tx.Connection);
            tx.AddBegin(batch);
            foreach (var segment in segments) batch.BatchCommands.Add(Command(segment, items, whole: true));
            try
            {
                await batch.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }
            catch (PostgresException e) when (FailureClassifier.IsConflictSignal(e))
            {
                throw new OptimisticBatchException(ctx.CommitLsn, e);
            }
            tx.Begun = true;
            tx.Tally.Add(items, items.Count);
            return;
        }
        while (items.Count > 0)
        {
            var (conflicts, resumeAt) = await SendGuardedAsync(items, ct).ConfigureAwait(false);
            tx.Tally.Add(items, resumeAt);
            foreach (var conflict in conflicts) await ResolveAsync(conflict, ct).ConfigureAwait(false);
            if (resumeAt >= items.Count) return;
            items = items.Skip(resumeAt).ToList();
        }
    }

    /// <summary>
    /// Consecutive inserts into one keyed table form a run, sent as one set-based statement; everything else goes
    /// one statement per item.
    /// </summary>
    public List<(int Start, int Count)> Segments(List<PendingChange> items)
    {
        var segments = new List<(int, int)>();
        for (var i = 0; i < items.Count;)
        {
            var n = 1;
            if (IsInsert(items[i]) && tables[items[i].Change.Relation.Id] is { MatchAllColumns: false })
                while (i + n < items.Count && IsInsert(items[i + n]) && items[i + n].Change.Relation.Id == items[i].Change.Relation.Id)
                    n++;
            segments.Add((i, n));
            i += n;
        }
        return segments;
    }

    private static bool IsInsert(PendingChange item) => !item.IsParked && item.Change.Kind == ChangeKind.Insert;

    /// <param name="whole">The statement is part of a whole transaction sent at once, which is sent again guarded
    /// if it fails (<see cref="FailureClassifier.IsConflictSignal"/>): an insert run can take the optimistic form.</param>
    public NpgsqlBatchCommand Command((int Start, int Count) segment, List<PendingChange> items, bool whole = false)
    {
        if (segment.Count == 1) return Guarded(items[segment.Start]);
        var run = items.GetRange(segment.Start, segment.Count).Select(i => i.Change).ToList();
        var table = tables[run[0].Relation.Id];
        return whole ? ChangeStatements.OptimisticInsertRun(table, run) : ChangeStatements.InsertRun(table, run);
    }

    /// <summary>Whether a change of <paramref name="items"/> goes to a table that defers checks to COMMIT.</summary>
    public bool DefersChecks(IReadOnlyList<PendingChange> items)
    {
        // A parked change's table may not exist on the target (a schema mismatch): it has no checks to run.
        foreach (var item in items)
            if (!item.IsParked && tables.TryGetValue(item.Change.Relation.Id, out var table) && table.DefersChecks) return true;
        return false;
    }

    /// <summary>
    /// The last change of a queued transaction, carrying the origin's progress itself
    /// (<see cref="ChangeStatements.CommitCheck"/>): the transaction costs one statement less.
    /// </summary>
    public NpgsqlBatchCommand GuardedCommitting(RowChange change, ChangeStatements.CommitCheck end) =>
        ChangeStatements.Guarded(tables[change.Relation.Id], change, ctx, end);

    private NpgsqlBatchCommand Guarded(PendingChange item) => item.Park is { } park
        ? DeadLetters.Park(park, ctx, guarded: true)
        : ChangeStatements.Guarded(tables[item.Change.Relation.Id], item.Change, ctx);

    /// <summary>
    /// Sends the items as guarded statements. Returns the items that met a conflict (to resolve in order) and where
    /// to resume: everything after the first conflicting statement was skipped.
    /// </summary>
    private async Task<(List<PendingChange> Conflicts, int ResumeAt)> SendGuardedAsync(List<PendingChange> items, CancellationToken ct)
    {
        var segments = Segments(items);
        await using var batch = new NpgsqlBatch(tx.Connection);
        tx.AddBegin(batch);
        foreach (var segment in segments) batch.BatchCommands.Add(Command(segment, items));
        await using var reader = await batch.ExecuteReaderAsync(ct).ConfigureAwait(false);
        tx.Begun = true;
        // Only the guarded statements return rows, one each, in order.
        for (var s = 0; s < segments.Count; s++)
        {
            var (start, count) = segments[s];
            if (s > 0) await reader.NextResultAsync(ct).ConfigureAwait(false);
            await reader.ReadAsync(ct).ConfigureAwait(false);
            if (count == 1)
            {
                if (!reader.GetBoolean(0)) return ([items[start]], start + 1);
                continue;
            }
            var failed = reader.GetFieldValue<long[]>(0);
            if (failed.Length > 0) return ([.. failed.Select(ord => items[start + (int)ord - 1])], start + count);
        }
        return ([], items.Count);
    }

    private async Task ResolveAsync(PendingChange item, CancellationToken ct)
    {
        var change = item.Change; // a parked item never halts first: it only fails when already halted
        // Counted once the transaction commits (a rolled-back resolution is resolved again when resent).
        if (await ConflictHandler.HandleAsync(tx.Connection, tables[change.Relation.Id], change, ctx, ct).ConfigureAwait(false) is var (type, resolution))
            tx.Tally.AddConflict(change, type.Name(), resolution);
        else tx.Tally.ParkedInstead(change);
    }

    /// <summary>After an error, each change in its own savepoint: what still fails is parked with the error.</summary>
    private async Task ApplyCarefullyAsync(PendingChange item, IReadOnlyDictionary<int, string> poisoned, CancellationToken ct)
    {
        var ordinal = _carefulOrdinal++;
        if (!item.IsParked && poisoned.TryGetValue(ordinal, out var why))
        {
            await using var park = new NpgsqlBatch(tx.Connection);
            tx.AddBegin(park);
            park.BatchCommands.Add(DeadLetters.Park(new ParkRequest(item.Change, null, why, Retryable: false), ctx, guarded: false));
            tx.Begun = true;
            await park.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            tx.Tally.Parked++;
            return;
        }
        await using (var begin = new NpgsqlBatch(tx.Connection))
        {
            tx.AddBegin(begin);
            begin.BatchCommands.Add(new NpgsqlBatchCommand("SAVEPOINT pgmm_change"));
            await begin.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            tx.Begun = true;
        }
        try
        {
            var (conflicts, _) = await SendGuardedAsync([item], ct).ConfigureAwait(false);
            foreach (var conflict in conflicts) await ResolveAsync(conflict, ct).ConfigureAwait(false);
            await tx.ExecAsync("RELEASE SAVEPOINT pgmm_change", ct).ConfigureAwait(false);
            tx.Tally.Add([item], 1);
        }
        // On a connection Npgsql dropped (XX errors) nothing can be rolled back to: the link sends the transaction again,
        // and this change is parked unsent then.
        catch (PostgresException e) when (FailureClassifier.IsDataError(e) && !item.IsParked && !tx.IsOpen)
        {
            throw new PoisonedChangeException(ordinal, e);
        }
        catch (PostgresException e) when (FailureClassifier.IsDataError(e) && !item.IsParked)
        {
            await tx.ExecAsync("ROLLBACK TO SAVEPOINT pgmm_change; SET LOCAL pgmm.halt = 'off'", ct).ConfigureAwait(false);
            var type = e.SqlState.StartsWith("42", StringComparison.Ordinal) ? ConflictType.SchemaMismatch
                : e.SqlState == PostgresErrorCodes.UniqueViolation ? ConflictType.UniqueViolation : (ConflictType?)null;
            await using var park = new NpgsqlBatch(tx.Connection);
            park.BatchCommands.Add(DeadLetters.Park(new ParkRequest(item.Change, type, $"{e.SqlState}: {e.MessageText}", Retryable: true), ctx, guarded: false));
            await park.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            tx.Tally.Parked++;
        }
    }
}
