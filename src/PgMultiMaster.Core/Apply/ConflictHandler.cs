using PgMultiMaster.Configuration;
using Npgsql;
using PgMultiMaster.Conflicts;
using PgMultiMaster.Decoding;
using PgMultiMaster.Sql;

namespace PgMultiMaster.Apply;

/// <summary>
/// The slow path for one change whose guarded statement met a conflict: read the local row and any tombstone with
/// their provenance, classify the conflict, resolve it by the rules, write the outcome and the conflict-log row —
/// all inside the transaction being applied.
/// </summary>
internal static class ConflictHandler
{
    /// <returns>The conflict's type and how it was resolved (as written to the conflict log; <c>dead_letter</c>: parked);
    /// null when it met no conflict, only an identity column it cannot write (<see cref="IdentityOnly"/>): parked, not logged.</returns>
    public static async Task<(ConflictType Type, string Resolution)?> HandleAsync(NpgsqlConnection conn, TargetTable t, RowChange c, ApplyContext ctx, CancellationToken ct)
    {
        var keyRow = c.Kind == ChangeKind.Delete ? c.Old! : c.Kind == ChangeKind.Insert ? c.New! : c.Old ?? c.New!;
        var (localJson, local, localVersion, tombstone) = await ReadLocalAsync(conn, t, keyRow, ctx, ct).ConfigureAwait(false);
        if (IdentityOnly(t, c, local, localVersion, ctx) is { } why)
        {
            await using var park = new NpgsqlBatch(conn);
            park.BatchCommands.Add(DeadLetters.Park(new ParkRequest(c, null, why, true), ctx, guarded: false));
            await park.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            return null;
        }

        var type = (c.Kind, local is not null) switch
        {
            (ChangeKind.Insert, true) => ConflictType.InsertExists,
            (ChangeKind.Insert, false) => tombstone is not null ? ConflictType.InsertDeleted : ConflictType.UniqueViolation,
            (ChangeKind.Update, true) => ConflictType.UpdateOriginDiffers,
            (ChangeKind.Update, false) => ConflictType.UpdateMissing,
            (ChangeKind.Delete, true) => ConflictType.DeleteOriginDiffers,
            _ => ConflictType.DeleteMissing,
        };
        var conflict = new Conflict(type, t.Relation, local, local is not null ? localVersion : tombstone, c.Old, c.New, ctx.RemoteVersion);
        var resolution = ConflictResolver.Resolve(conflict, t.Rules);

        await using var batch = new NpgsqlBatch(conn);
        var outcome = resolution.Outcome;
        string resolutionName;
        if (outcome == Outcome.CallFunction)
            (outcome, resolutionName) = await CallFunctionAsync(conn, batch, t, c, conflict, localJson, ct).ConfigureAwait(false);
        else
            resolutionName = Write(batch, t, c, conflict, resolution, ctx, ref outcome);

        batch.BatchCommands.Add(Log(t, c, conflict, resolution.Rule, resolutionName, localJson, ctx));
        await batch.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        return (type, outcome == Outcome.DeadLetter ? "dead_letter" : resolutionName);
    }

    private static string Write(NpgsqlBatch batch, TargetTable t, RowChange c, Conflict conflict, Resolution resolution, ApplyContext ctx, ref Outcome outcome)
    {
        if (IdentityOverwrite(t, c, conflict, resolution, outcome) is { } reason)
        {
            // The row found here has another value in a GENERATED ALWAYS identity column than the one to write.
            outcome = Outcome.DeadLetter;
            batch.BatchCommands.Add(DeadLetters.Park(new ParkRequest(c, conflict.Type, reason, true), ctx, guarded: false));
            return "dead_letter";
        }
        switch (outcome)
        {
            case Outcome.ApplyRemote when conflict.Type == ConflictType.UpdateMissing && c.New!.Any(x => x.IsUnchanged):
                // pgoutput sends no data for unchanged TOAST values: the whole row cannot be rebuilt here.
                outcome = Outcome.DeadLetter;
                batch.BatchCommands.Add(DeadLetters.Park(new ParkRequest(c, conflict.Type,
                    "update_missing: the row is not here and the change lacks its unchanged TOAST values; retried when the row arrives", true), ctx, guarded: false));
                return "dead_letter";
            case Outcome.ApplyRemote:
                batch.BatchCommands.Add(conflict.Type switch
                {
                    ConflictType.InsertExists => ChangeStatements.Update(t, c with { Kind = ChangeKind.Update }, null),
                    ConflictType.InsertDeleted or ConflictType.UpdateMissing => ChangeStatements.Insert(t, c.New!),
                    ConflictType.UpdateOriginDiffers => ChangeStatements.Update(t, c, null),
                    _ => ChangeStatements.Delete(t, c.Old!),
                });
                return conflict.Type == ConflictType.UpdateMissing ? "insert_remote" : "apply_remote";
            case Outcome.Merge:
                batch.BatchCommands.Add(ChangeStatements.Update(t, c, resolution.Columns));
                return "merge";
            case Outcome.DeadLetter:
                batch.BatchCommands.Add(DeadLetters.Park(new ParkRequest(c, conflict.Type, $"{conflict.Type.Name()}: parked by rule {resolution.Rule}",
                    conflict.Type is ConflictType.SchemaMismatch or ConflictType.UniqueViolation), ctx, guarded: false));
                return "dead_letter";
            default:
                if (conflict.Type == ConflictType.DeleteMissing && t.HasTombstones)
                    batch.BatchCommands.Add(ChangeStatements.Tombstone(t, c.Old!, ctx));
                return conflict.Type == ConflictType.DeleteMissing ? "skip" : "keep_local";
        }
    }

    /// <summary>
    /// Why an update that met no conflict (as the guarded statement judges one: the local version is the source's own,
    /// older, or of unknown time) was halted all the same: a non-key <c>GENERATED ALWAYS</c> identity column whose
    /// value it changes (<see cref="ChangeStatements"/>' check when the old row is not sent). Null otherwise.
    /// </summary>
    private static string? IdentityOnly(TargetTable t, RowChange c, string?[]? local, RowVersion? version, ApplyContext ctx)
    {
        if (t.Generation is null || c.Kind != ChangeKind.Update || local is null || version is null) return null;
        var noConflict = version.CommitTimestamp is not { } ts || ts < ctx.CommitTimestamp || version.Node == ctx.SourceNode && ts <= ctx.CommitTimestamp;
        if (!noConflict) return null;
        foreach (var i in t.Written)
            if (t.IsAlwaysIdentity(i) && !c.New![i].IsUnchanged && local[i] != (c.New[i].Kind == CellKind.Null ? null : c.New[i].Text))
                return ChangeStatements.IdentityChangeReason(t, c, i, local[i] is { } was ? Cell.Of(was) : Cell.Null);
        return null;
    }

    /// <summary>
    /// Why the outcome cannot be written, when it would update the local row with another value in a
    /// <c>GENERATED ALWAYS</c> identity column than the one the row has: no UPDATE can (428C9), and leaving the local
    /// value would silently keep the nodes apart. (An identity key is never one: the row was found by it.)
    /// </summary>
    private static string? IdentityOverwrite(TargetTable t, RowChange c, Conflict conflict, Resolution resolution, Outcome outcome)
    {
        if (t.Generation is null || conflict.Local is null || c.New is null) return null;
        if (outcome is not (Outcome.ApplyRemote or Outcome.Merge) || conflict.Type is not (ConflictType.InsertExists or ConflictType.UpdateOriginDiffers)) return null;
        foreach (var i in t.Written)
        {
            if (!t.IsAlwaysIdentity(i) || c.New[i].IsUnchanged || outcome == Outcome.Merge && resolution.Columns?[i] == ColumnSource.Local) continue;
            var local = conflict.Local[i];
            var remote = c.New[i].Kind == CellKind.Null ? null : c.New[i].Text;
            if (local != remote)
                return ChangeStatements.IdentityChangeReason(t, c, i, local is null ? Cell.Null : Cell.Of(local)) +
                       $"; or resolve the {conflict.Type.Name()} by hand";
        }
        return null;
    }

    /// <summary>The user's function gets both rows as jsonb and the conflict type; it returns the row to keep, or NULL for none.</summary>
    private static async Task<(Outcome, string)> CallFunctionAsync(NpgsqlConnection conn, NpgsqlBatch batch, TargetTable t, RowChange c, Conflict conflict, string? localJson, CancellationToken ct)
    {
        var (_, rule, _) = t.Rules.For(conflict.Type);
        var p = new SqlParams();
        var remote = c.Kind == ChangeKind.Delete ? "NULL::jsonb" : ChangeStatements.TypedJson(t, c.New, p);
        var function = string.Join('.', rule.Function!.Split('.', 2).Select(Quote.Ident));
        var call = $"SELECT {function}({p.Add(localJson)}::jsonb, {remote}, {p.Add(conflict.Type.Name())}::text)::text";
        await using var cmd = new NpgsqlCommand(call, conn);
        foreach (var v in p.Values) cmd.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Unknown, Value = v });
        var result = await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false) as string;

        var keyRow = c.Kind == ChangeKind.Insert ? c.New! : c.Old ?? c.New!;
        var w = new SqlParams();
        var columns = ChangeStatements.ColumnList(t);
        // An UPDATE cannot write a GENERATED ALWAYS identity column: the row keeps its own (it was found by its key).
        var updated = string.Join(", ", t.Written.Where(i => !t.IsAlwaysIdentity(i)).Select(i => Quote.Ident(t.Relation.Columns[i].Name)));
        if (result is null)
        {
            if (conflict.Local is null) return (Outcome.KeepLocal, "function: none");
            batch.BatchCommands.Add(ChangeStatements.Delete(t, keyRow));
            return (Outcome.ApplyRemote, "function: deleted");
        }
        var record = $"pg_catalog.jsonb_populate_record(NULL::{t.QuotedName}, {w.Add(result)}::jsonb)";
        if (conflict.Local is null)
            batch.BatchCommands.Add(w.Command($"INSERT INTO {t.QuotedName} ({columns}) OVERRIDING SYSTEM VALUE SELECT {columns} FROM {record}"));
        else if (updated.Length > 0)
            batch.BatchCommands.Add(w.Command($"UPDATE {t.QuotedName} t SET ({updated}) = (SELECT {updated} FROM {record}) WHERE {ChangeStatements.Match(t, keyRow, w)}"));
        return (Outcome.Merge, "function: row");
    }

    private static NpgsqlBatchCommand Log(TargetTable t, RowChange c, Conflict conflict, string rule, string resolution, string? localJson, ApplyContext ctx)
    {
        var p = new SqlParams();
        var keyRow = c.Kind == ChangeKind.Delete ? c.Old! : c.New!;
        var remote = ChangeStatements.TypedJson(t, c.Kind == ChangeKind.Delete ? c.Old : c.New, p);
        var kept = t.MatchAllColumns || c.Kind == ChangeKind.Delete && resolution != "keep_local"
            ? "NULL::jsonb"
            : $"(SELECT pg_catalog.to_jsonb(t) FROM {t.QuotedName} t WHERE {ChangeStatements.Match(t, keyRow, p)})";
        var sql =
            "INSERT INTO pgmm.conflict_log (conflict_type, table_name, key, local_row, remote_row, kept_row, local_origin, local_commit_ts, " +
            "remote_origin, remote_commit_ts, remote_lsn, rule, resolution) VALUES (" +
            string.Join(", ",
                p.Add(conflict.Type.Name()), p.Add(t.Relation.QualifiedName),
                p.Add(DeadLetters.KeyJson(c)?.ToJsonString()) + "::jsonb", p.Add(localJson) + "::jsonb", remote, kept,
                p.Add(conflict.LocalVersion?.Node), p.Add(conflict.LocalVersion?.CommitTimestamp is { } ts ? SqlParams.Timestamp(ts) : null) + "::timestamptz",
                p.Add(ctx.SourceNode), p.Add(SqlParams.Timestamp(ctx.CommitTimestamp)) + "::timestamptz",
                p.Add(new NpgsqlTypes.NpgsqlLogSequenceNumber(ctx.CommitLsn).ToString()) + "::pg_lsn",
                p.Add(rule), p.Add(resolution)) + ")";
        return p.Command(sql);
    }

    private static async Task<(string? Json, string?[]? Row, RowVersion? Version, RowVersion? Tombstone)> ReadLocalAsync(
        NpgsqlConnection conn, TargetTable t, Cell[] keyRow, ApplyContext ctx, CancellationToken ct)
    {
        await using var batch = new NpgsqlBatch(conn);
        batch.BatchCommands.Add(new NpgsqlBatchCommand("SET LOCAL pgmm.halt = 'off'"));
        var p = new SqlParams();
        var texts = string.Join(", ", t.Relation.Columns.Select(x => $"t.{Quote.Ident(x.Name)}::text"));
        batch.BatchCommands.Add(p.Command(
            $"SELECT pg_catalog.to_jsonb(t)::text, ARRAY[{texts}], o.\"timestamp\", o.roident FROM {t.QuotedName} t, " +
            $"pg_catalog.pg_xact_commit_timestamp_origin(t.xmin) o WHERE {ChangeStatements.Match(t, keyRow, p)} FOR UPDATE OF t"));
        if (t.HasTombstones)
        {
            var q = new SqlParams();
            batch.BatchCommands.Add(q.Command(
                $"SELECT o.\"timestamp\", o.roident FROM pgmm.tombstone tb, pg_catalog.pg_xact_commit_timestamp_origin(tb.xmin) o " +
                $"WHERE tb.table_name = {q.Add(t.Relation.QualifiedName)} AND tb.key = {ChangeStatements.TombstoneKey(t, keyRow, q)}"));
        }

        await using var r = await batch.ExecuteReaderAsync(ct).ConfigureAwait(false);
        string? json = null;
        string?[]? row = null;
        RowVersion? version = null, tombstone = null;
        if (await r.ReadAsync(ct).ConfigureAwait(false))
        {
            json = r.GetString(0);
            row = r.GetFieldValue<string?[]>(1);
            version = new RowVersion(r.IsDBNull(2) ? null : r.GetDateTime(2), ctx.NodeOf(r.IsDBNull(3) ? 0 : r.GetFieldValue<uint>(3)));
        }
        if (t.HasTombstones && await r.NextResultAsync(ct).ConfigureAwait(false) && await r.ReadAsync(ct).ConfigureAwait(false))
            tombstone = new RowVersion(r.IsDBNull(0) ? null : r.GetDateTime(0), ctx.NodeOf(r.IsDBNull(1) ? 0 : r.GetFieldValue<uint>(1)));
        return (json, row, version, tombstone);
    }
}
