using System.Text;
using Npgsql;
using PgMultiMaster.Conflicts;
using PgMultiMaster.Decoding;
using PgMultiMaster.Failures;
using PgMultiMaster.Sql;

namespace PgMultiMaster.Apply;

/// <summary>
/// The SQL for one row change. The guarded form applies the change only when it meets no conflict and nothing
/// before it in the batch halted; it returns one boolean, and false sets <c>pgmm.halt</c> so the statements after
/// it do nothing either. The plain forms write a resolved outcome.
/// </summary>
internal static class ChangeStatements
{
    private const string NotHalted = "pg_catalog.current_setting('pgmm.halt') = 'off'";
    private const string Report = " SELECT CASE WHEN EXISTS (SELECT 1 FROM w) THEN true ELSE pg_catalog.set_config('pgmm.halt', 'on', true) = '' END";

    // Raises PM001, PgmmSqlStates.ConflictHalt (pgmm.assert_not_halted does once the batch is halted).
    private const string Stop = "pg_catalog.set_config('pgmm.halt', 'on', true) IS NULL OR pgmm.assert_not_halted() IS NULL";

    /// <summary>
    /// The end of a transaction, just before its COMMIT: records the origin's progress (with the source's commit
    /// timestamp), or raises PM001 when the transaction met a conflict, so the COMMIT after it does not happen.
    /// The progress is also written to <c>pgmm.applied_progress</c>, which a snapshot of this node can read (ADR 0017):
    /// <paramref name="Origin"/> names its row.
    /// </summary>
    public readonly record struct CommitCheck(ulong EndLsn, DateTime CommitTimestamp, string Origin);

    /// <summary>
    /// The two parts of a transaction's end: a CTE that writes the progress row (a data-modifying CTE runs once whatever
    /// the statement returns, and rolls back with the transaction), and the expression that sets the origin's progress
    /// or stops.
    /// </summary>
    private static (string Cte, string Select) CommitOrStop(CommitCheck commit, SqlParams p, string applied)
    {
        var lsn = p.Add(new NpgsqlTypes.NpgsqlLogSequenceNumber(commit.EndLsn).ToString());
        var ts = p.Add(SqlParams.Timestamp(commit.CommitTimestamp));
        return ($"pgmm_progress AS (UPDATE pgmm.applied_progress SET lsn = {lsn}::pg_lsn, committed_at = {ts}::timestamptz WHERE origin = {p.Add(commit.Origin)})",
            $"CASE WHEN {applied} AND {NotHalted} " +
            $"THEN (SELECT true FROM pg_catalog.pg_replication_origin_xact_setup({lsn}::pg_lsn, {ts}::timestamptz)) ELSE {Stop} END");
    }

    /// <summary>
    /// Runs the checks a table defers to COMMIT (deferrable unique constraints, constraint triggers) now, before the
    /// origin's progress is set. On PostgreSQL 16 and later a transaction that fails after
    /// <c>pg_replication_origin_xact_setup</c> still moves the origin's progress past it when it aborts, so a check
    /// failing at COMMIT would make the link skip that transaction when it resumes. Failing here, it is replayed change
    /// by change and parked like any other error.
    /// </summary>
    public static NpgsqlBatchCommand CheckDeferred() => new("SET CONSTRAINTS ALL IMMEDIATE");

    /// <summary>The end of a transaction as a statement of its own (when its last change cannot carry it).</summary>
    public static NpgsqlBatchCommand Commit(CommitCheck commit)
    {
        var p = new SqlParams();
        var (cte, select) = CommitOrStop(commit, p, "true");
        return p.Command($"WITH {cte} SELECT {select}");
    }

    /// <summary>
    /// The guarded statement; with <paramref name="commit"/>, it is also its transaction's last statement and ends it
    /// (<see cref="CommitCheck"/>): a single-row transaction is then BEGIN, this statement and COMMIT.
    /// </summary>
    public static NpgsqlBatchCommand Guarded(TargetTable t, RowChange c, ApplyContext ctx, CommitCheck? commit = null)
    {
        var p = new SqlParams();
        var sql = new StringBuilder("WITH w AS (");
        switch (c.Kind)
        {
            case ChangeKind.Insert:
            {
                var values = t.Written.Select(i => p.Add(c.New![i]) + t.Cast(i)).ToList();
                sql.Append("INSERT INTO ").Append(t.QuotedName).Append(" (").Append(ColumnList(t)).Append(") OVERRIDING SYSTEM VALUE SELECT ")
                   .Append(string.Join(", ", values)).Append(" WHERE ").Append(NotHalted);
                // A key deleted here before: the delete and this insert must be ordered by the rules.
                if (t.HasTombstones)
                    sql.Append(" AND NOT EXISTS (SELECT 1 FROM pgmm.tombstone WHERE table_name = ").Append(p.Add(t.Relation.QualifiedName))
                       .Append(" AND key = ").Append(TombstoneKey(t, c.New!, p)).Append(')');
                sql.Append(t.OnConflict).Append(" RETURNING 1)");
                break;
            }
            case ChangeKind.Update:
                sql.Append("UPDATE ").Append(t.QuotedName).Append(" t SET ").Append(SetList(t, c, p, deltas: true))
                   .Append(" WHERE ").Append(Match(t, c.Old ?? c.New!, p)).Append(IdentityUnchanged(t, c, p)).Append(" AND ").Append(NotHalted)
                   .Append(" AND ").Append(NoConflict(t, c, ctx, p)).Append(" RETURNING 1)");
                break;
            case ChangeKind.Delete:
                sql.Append("DELETE FROM ").Append(t.QuotedName).Append(" t WHERE ").Append(Match(t, c.Old!, p)).Append(" AND ").Append(NotHalted)
                   .Append(" AND ").Append(NoConflict(t, c, ctx, p)).Append(" RETURNING 1)");
                break;
        }
        if (commit is { } end)
        {
            var (cte, select) = CommitOrStop(end, p, "EXISTS (SELECT 1 FROM w)");
            sql.Append(", ").Append(cte).Append(" SELECT ").Append(select);
        }
        else sql.Append(Report);
        return p.Command(sql.ToString());
    }

    /// <summary>
    /// A run of inserts into one keyed table as one set-based statement (an array per column, unnested): far fewer
    /// statements for bulk loads. Rows that meet a conflict (key present, unique value taken, or a tombstone) are
    /// not inserted; the statement returns their 1-based positions in the run and then halts the batch.
    /// </summary>
    public static NpgsqlBatchCommand InsertRun(TargetTable t, IReadOnlyList<RowChange> run)
    {
        var (command, input) = RunInput(t, run);
        var columns = t.Relation.Columns;
        var sql = new StringBuilder("WITH input AS (").Append(input).Append("), ")
            .Append("w AS (INSERT INTO ").Append(t.QuotedName).Append(" (").Append(ColumnList(t)).Append(") OVERRIDING SYSTEM VALUE SELECT ")
            .Append(RunValues(t)).Append(" FROM input i WHERE ").Append(NotHalted);
        if (t.HasTombstones)
            sql.Append(" AND NOT EXISTS (SELECT 1 FROM pgmm.tombstone tb WHERE tb.table_name = ").Append(RunTableParameter(t, command))
               .Append(" AND tb.key = ").Append(RunTombstoneKey(t)).Append(')');
        var keys = t.MatchColumns.Select(i => Quote.Ident(columns[i].Name)).ToList();
        sql.Append(" ORDER BY i.ord").Append(t.OnConflict).Append(" RETURNING ").Append(string.Join(", ", keys)).Append("), ")
           // Which rows were not inserted: only looked for (lazily, an InitPlan) when fewer rows went in than came.
           .Append("failed AS (SELECT CASE WHEN (SELECT pg_catalog.count(*) FROM w) < (SELECT pg_catalog.count(*) FROM input) THEN ")
           .Append("(SELECT pg_catalog.array_agg(i.ord ORDER BY i.ord) FROM input i WHERE NOT EXISTS (SELECT 1 FROM w WHERE ")
           .Append(string.Join(" AND ", t.MatchColumns.Select(i => t.Equal(i, $"w.{Quote.Ident(columns[i].Name)}", RunValue(t, i, compare: true))))).Append(")) END AS ords) ")
           .Append("SELECT coalesce(ords, '{}'), CASE WHEN ords IS NOT NULL THEN pg_catalog.set_config('pgmm.halt', 'on', true) END FROM failed");
        command.CommandText = sql.ToString();
        return command;
    }

    /// <summary>
    /// A run of inserts sent on the assumption that none conflicts, for a transaction sent whole: a plain set-based
    /// insert, half the server's work of <see cref="InsertRun"/> (no speculative insertion, nothing returned). A taken
    /// key or unique value fails it (23505, 23P01), and a row with a tombstone raises PM001; either way the
    /// transaction is rolled back and sent again guarded (<see cref="FailureClassifier.IsConflictSignal"/>). The tombstone lookup runs
    /// per row only while the table has tombstones at all.
    /// </summary>
    public static NpgsqlBatchCommand OptimisticInsertRun(TargetTable t, IReadOnlyList<RowChange> run)
    {
        var (command, input) = RunInput(t, run);
        var sql = new StringBuilder("INSERT INTO ").Append(t.QuotedName).Append(" (").Append(ColumnList(t)).Append(") OVERRIDING SYSTEM VALUE SELECT ")
            .Append(RunValues(t)).Append(" FROM (").Append(input).Append(") i");
        if (t.HasTombstones)
        {
            var table = RunTableParameter(t, command);
            sql.Append(" WHERE NOT EXISTS (SELECT 1 FROM pgmm.tombstone WHERE table_name = ").Append(table).Append(')')
               .Append(" OR NOT EXISTS (SELECT 1 FROM pgmm.tombstone tb WHERE tb.table_name = ").Append(table)
               .Append(" AND tb.key = ").Append(RunTombstoneKey(t)).Append(") OR ").Append(Stop);
        }
        command.CommandText = sql.ToString();
        return command;
    }

    // A run's rows as a subquery: one text array parameter per column, unnested, numbered from 1 (ord).
    private static (NpgsqlBatchCommand Command, string Sql) RunInput(TargetTable t, IReadOnlyList<RowChange> run)
    {
        var columns = t.Relation.Columns;
        var command = new NpgsqlBatchCommand();
        for (var i = 0; i < columns.Length; i++)
        {
            var values = new string?[run.Count];
            for (var r = 0; r < run.Count; r++) values[r] = run[r].New![i].Kind == CellKind.Null ? null : run[r].New![i].Text;
            command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Text, Value = values });
        }
        // ROWS FROM (unnest(a), unnest(b), ...): the multi-array unnest(a, b, ...) is syntax that takes no schema.
        var sql = "SELECT * FROM ROWS FROM (" + string.Join(", ", Enumerable.Range(1, columns.Length).Select(n => $"pg_catalog.unnest(${n}::text[])"))
            + ") WITH ORDINALITY AS u(" + string.Join(", ", Enumerable.Range(0, columns.Length).Select(n => $"c{n}")) + ", ord)";
        return (command, sql);
    }

    private static string RunValue(TargetTable t, int i, bool compare = false) => $"i.c{i}{(compare ? t.CompareCast(i) : t.Cast(i))}";

    private static string RunValues(TargetTable t) => string.Join(", ", t.Written.Select(i => RunValue(t, i)));

    private static string RunTableParameter(TargetTable t, NpgsqlBatchCommand command)
    {
        command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text, Value = t.Relation.QualifiedName });
        return "$" + command.Parameters.Count;
    }

    private static string RunTombstoneKey(TargetTable t) =>
        "pg_catalog.jsonb_build_object(" + string.Join(", ", t.MatchColumns.Select(i => $"{Quote.Literal(t.Relation.Columns[i].Name)}::text, {RunValue(t, i, compare: true)}")) + ")";

    /// <summary>
    /// Not a conflict: the local version came from the same origin (changes of one origin arrive in order), or its
    /// timestamp is unknown, or the source saw it — with the remote old row (REPLICA IDENTITY FULL) exactly when the
    /// local row equals it, otherwise when the local version is older than the change.
    /// </summary>
    private static string NoConflict(TargetTable t, RowChange c, ApplyContext ctx, SqlParams p)
    {
        // Same origin: changes of one origin arrive in commit order, so the local version is older — unless this is a
        // parked change retried after newer ones from the same origin, which must not overwrite them.
        var ts = p.Add(SqlParams.Timestamp(ctx.CommitTimestamp));
        var sql = new StringBuilder("(SELECT (o.roident = ").Append(p.Add(ctx.SourceRoident.ToString(System.Globalization.CultureInfo.InvariantCulture)))
            .Append("::oid AND o.\"timestamp\" <= ").Append(ts).Append("::timestamptz) OR o.\"timestamp\" IS NULL OR ");
        if (c.Old is not null && t.Relation.Identity == ReplicaIdentity.Full)
        {
            var same = new List<string>();
            for (var i = 0; i < c.Old.Length; i++)
                if (!c.Old[i].IsUnchanged) same.Add(SameValue(t, i, "t", c.Old[i], p));
            sql.Append('(').Append(string.Join(" AND ", same)).Append(')');
        }
        else
        {
            sql.Append("o.\"timestamp\" < ").Append(ts).Append("::timestamptz");
        }
        return sql.Append(" FROM pg_catalog.pg_xact_commit_timestamp_origin(t.xmin) o)").ToString();
    }

    public static string SameValue(TargetTable t, int i, string alias, Cell value, SqlParams p)
    {
        var col = alias + "." + Quote.Ident(t.Relation.Columns[i].Name);
        var given = p.Add(value);
        // A type without an equality is compared by its text: the value is not cast to it first.
        return t.NotDistinct(i, col, t.Equality[i] is null ? given : given + t.CompareCast(i));
    }

    /// <summary>WHERE condition finding the row by its key (or, without one, exactly one row equal in every column).</summary>
    public static string Match(TargetTable t, Cell[] key, SqlParams p)
    {
        if (t.MatchAllColumns)
        {
            var all = t.MatchColumns.Where(i => !key[i].IsUnchanged).Select(i => SameValue(t, i, "x", key[i], p));
            // Identical rows are indistinguishable: change exactly one, as the source did.
            return $"t.ctid = (SELECT x.ctid FROM {t.QuotedName} x WHERE {string.Join(" AND ", all)} LIMIT 1)";
        }
        return string.Join(" AND ", t.MatchColumns.Select(i => t.Equal(i, $"t.{Quote.Ident(t.Relation.Columns[i].Name)}", p.Add(key[i]) + t.CompareCast(i))));
    }

    public static string TombstoneKey(TargetTable t, Cell[] row, SqlParams p) =>
        "pg_catalog.jsonb_build_object(" + string.Join(", ", t.MatchColumns.Select(i =>
            $"{p.Add(t.Relation.Columns[i].Name)}::text, {p.Add(row[i])}{t.CompareCast(i)}")) + ")";

    /// <summary>
    /// SET list of an update: every sent column, Delta columns as local + (new − old) — but never a generated column,
    /// nor a <c>GENERATED ALWAYS</c> identity column (PostgreSQL lets an UPDATE set it only to DEFAULT: 428C9, even to
    /// the value it has). Such a column is left as it is; a change that would give it another value never gets here
    /// (<see cref="IdentityChange"/>), and one whose old value is unknown is checked by <see cref="IdentityUnchanged"/>.
    /// </summary>
    private static string SetList(TargetTable t, RowChange c, SqlParams p, bool deltas, ColumnSource[]? sources = null)
    {
        var sets = new List<string>();
        var deltaColumns = t.Rules.DeltaColumns.ToHashSet();
        foreach (var i in t.Written)
        {
            var column = t.Relation.Columns[i];
            var source = sources?[i] ?? ColumnSource.Remote;
            if (c.New![i].IsUnchanged || source == ColumnSource.Local || t.IsAlwaysIdentity(i)) continue;
            var name = Quote.Ident(column.Name);
            var isDelta = source == ColumnSource.Delta
                          || (deltas && !column.IsKey && (deltaColumns.Contains(column.Name) || t.Rules.TableIsDelta));
            if (isDelta && c.Old is not null && c.Old[i].Kind == CellKind.Text && c.New[i].Kind == CellKind.Text)
                sets.Add($"{name} = t.{name} + ({p.Add(c.New[i])}{t.CompareCast(i)} - {p.Add(c.Old[i])}{t.CompareCast(i)})");
            else
                sets.Add($"{name} = {p.Add(c.New[i])}{t.Cast(i)}");
        }
        return string.Join(", ", sets);
    }

    // ---- plain writes of a resolved outcome ----

    public static NpgsqlBatchCommand Insert(TargetTable t, Cell[] row)
    {
        var p = new SqlParams();
        var values = t.Written.Select(i => p.Add(row[i]) + t.Cast(i)).ToList();
        return p.Command($"INSERT INTO {t.QuotedName} ({ColumnList(t)}) OVERRIDING SYSTEM VALUE VALUES ({string.Join(", ", values)})");
    }

    public static NpgsqlBatchCommand Update(TargetTable t, RowChange c, ColumnSource[]? sources)
    {
        var p = new SqlParams();
        var set = SetList(t, c, p, deltas: false, sources);
        return p.Command($"UPDATE {t.QuotedName} t SET {set} WHERE {Match(t, c.Old ?? c.New!, p)}");
    }

    public static NpgsqlBatchCommand Delete(TargetTable t, Cell[] key)
    {
        var p = new SqlParams();
        return p.Command($"DELETE FROM {t.QuotedName} t WHERE {Match(t, key, p)}");
    }

    /// <summary>
    /// A delete that found nothing still leaves its tombstone, so an older change arriving later loses — but never
    /// replaces a newer tombstone: a tombstone going back in time would let an insert between the two win.
    /// </summary>
    public static NpgsqlBatchCommand Tombstone(TargetTable t, Cell[] key, ApplyContext ctx)
    {
        var p = new SqlParams();
        return p.Command($"INSERT INTO pgmm.tombstone AS tb (table_name, key) VALUES ({p.Add(t.Relation.QualifiedName)}, {TombstoneKey(t, key, p)}) " +
                         "ON CONFLICT (table_name, key) DO UPDATE SET key = excluded.key " +
                         $"WHERE (SELECT o.\"timestamp\" FROM pg_catalog.pg_xact_commit_timestamp_origin(tb.xmin) o) < {p.Add(SqlParams.Timestamp(ctx.CommitTimestamp))}::timestamptz");
    }

    /// <summary>A row of text values as typed jsonb (what the target's column types, domains taken off, make of them).</summary>
    public static string TypedJson(TargetTable t, Cell[]? row, SqlParams p)
    {
        if (row is null) return "NULL::jsonb";
        var fields = Enumerable.Range(0, row.Length).Where(i => !row[i].IsUnchanged)
            .Select(i => $"{p.Add(row[i])}{t.CompareCast(i)} AS {Quote.Ident(t.Relation.Columns[i].Name)}");
        return $"(SELECT pg_catalog.to_jsonb(r) FROM (SELECT {string.Join(", ", fields)}) r)";
    }

    /// <summary>The columns an insert writes (<see cref="TargetTable.Written"/>).</summary>
    public static string ColumnList(TargetTable t) => string.Join(", ", t.Written.Select(i => Quote.Ident(t.Relation.Columns[i].Name)));

    /// <summary>
    /// The <c>GENERATED ALWAYS</c> identity column the update <paramref name="c"/> gives a new value, if any, and the
    /// value it had: PostgreSQL has no way to set it by UPDATE. A changed key is not one of them when it is applied as
    /// a delete and an insert (<see cref="IsKeyChange"/>); judged by what the change itself says (its old row, or the
    /// key that finds the row).
    /// </summary>
    public static (int Column, Cell Was)? IdentityChange(TargetTable t, RowChange c)
    {
        if (c.Kind != ChangeKind.Update || t.Generation is null || IsKeyChange(t, c)) return null;
        var found = c.Old ?? c.New!;
        foreach (var i in t.Written)
        {
            if (!t.IsAlwaysIdentity(i)) continue;
            var was = t.MatchColumns.Contains(i) ? found[i] : c.Old?[i];
            if (was is { IsUnchanged: false } old && !c.New![i].IsUnchanged && old != c.New[i]) return (i, old);
        }
        return null;
    }

    /// <summary>
    /// An update that changes the key: applied as a delete of the old row and an insert of the new one, each under the
    /// rules for deletes and inserts (so it converges like any delete and insert, and a <c>GENERATED ALWAYS</c> identity
    /// key, which no UPDATE may set, is inserted with OVERRIDING SYSTEM VALUE). Not without the whole new row.
    /// </summary>
    public static bool IsKeyChange(TargetTable t, RowChange c) =>
        c.Kind == ChangeKind.Update && c.Old is not null && !t.MatchAllColumns
        && t.MatchColumns.Any(i => c.Old[i] != c.New![i]) && !c.New!.Any(x => x.IsUnchanged);

    /// <summary>Why <paramref name="c"/> is parked instead of applied, when it would give an identity column a new value.</summary>
    public static string IdentityChangeReason(TargetTable t, RowChange c, int column, Cell was) =>
        $"column {Quote.Ident(t.Relation.Columns[column].Name)} of {t.QuotedName} is GENERATED ALWAYS AS IDENTITY here, and the change " +
        $"gives it another value ({was} -> {c.New![column]}): PostgreSQL lets an UPDATE set it only to DEFAULT (428C9)" +
        (t.MatchColumns.Contains(column) ? " and the new row lacks unchanged TOAST values to insert it whole" : "") +
        $". Make it GENERATED BY DEFAULT on this node (ALTER TABLE {t.QuotedName} ALTER COLUMN {Quote.Ident(t.Relation.Columns[column].Name)} SET GENERATED BY DEFAULT), then retry; do it on every node, or pgmm diff reports the column's definition differing";

    /// <summary>
    /// For a <c>GENERATED ALWAYS</c> identity column that does not find the row and whose old value the change lacks
    /// (no REPLICA IDENTITY FULL): the guarded update applies only where it holds the value sent, so one the source
    /// gave a new value halts and is parked by the slow path (<see cref="ConflictHandler"/>) instead of being dropped.
    /// </summary>
    private static string IdentityUnchanged(TargetTable t, RowChange c, SqlParams p)
    {
        if (t.Generation is null) return "";
        var sql = new StringBuilder();
        foreach (var i in t.Written)
            if (t.IsAlwaysIdentity(i) && !t.MatchColumns.Contains(i) && (c.Old?[i] is null or { IsUnchanged: true }) && !c.New![i].IsUnchanged)
                sql.Append(" AND ").Append(SameValue(t, i, "t", c.New[i], p));
        return sql.ToString();
    }
}
