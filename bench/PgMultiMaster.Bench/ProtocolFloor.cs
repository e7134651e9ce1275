using System.Diagnostics;
using System.Globalization;
using Npgsql;
using NpgsqlTypes;
using PgMultiMaster.Apply;
using PgMultiMaster.Configuration;
using PgMultiMaster.Conflicts;
using PgMultiMaster.Decoding;

namespace PgMultiMaster.Bench;

/// <summary>
/// What a single-row UPDATE transaction costs the target server when it arrives through the protocol, by form:
/// the floor under any applier that runs outside the server. Each form sends 50,000 transactions in pipelines of
/// 200 (as the worker does) on one connection, with <c>synchronous_commit = off</c> and a replication origin set up.
/// Reported: the server backend's and this process's CPU per transaction (from /proc).
/// </summary>
internal static class ProtocolFloor
{
    private const int Rounds = 250, PerRound = 200;

    public static async Task RunAsync(string connectionString)
    {
        await using var conn = await OpenAsync(connectionString, """
            SELECT pg_replication_origin_create('bench_floor') WHERE NOT EXISTS (SELECT FROM pg_replication_origin WHERE roname = 'bench_floor');
            SET synchronous_commit = off; SET pgmm.halt = 'off';
            SELECT pg_replication_origin_session_setup('bench_floor');
            """);
        // pgmm's commit form records its progress in pgmm.applied_progress (ADR 0017).
        await PgMultiMaster.Setup.SchemaScripts.ApplyAsync(conn, default);
        await using (var row = new NpgsqlCommand("INSERT INTO pgmm.applied_progress (origin) VALUES ('bench_floor') ON CONFLICT DO NOTHING", conn))
            await row.ExecuteNonQueryAsync();

        const string update = "UPDATE floor_acct SET balance = balance + 1 WHERE id = $1::int";
        // pgmm's form is built by the worker's own code: the guarded change carrying its transaction's commit.
        var relation = new RelationInfo(0, "public", "floor_acct", ReplicaIdentity.Default,
            [new ColumnInfo("id", 23, true), new ColumnInfo("balance", 20, false)]);
        var table = new TargetTable(relation, [0], false, ["integer", "bigint"], ["integer", "bigint"], ["=", "="], new TableRules(new ConflictOptions(), "public.floor_acct"));
        var ctx = new ApplyContext { SourceNode = "source", OriginName = "bench_floor", SourceRoident = 7, NodeByRoident = new Dictionary<uint, string>() };
        NpgsqlBatchCommand Guarded(string id, ulong lsn, string progressRow = "bench_floor")
        {
            ctx.CommitTimestamp = DateTime.UtcNow;
            var change = new RowChange(ChangeKind.Update, relation, null, [Cell.Of(id), Cell.Of("1")]);
            return ChangeStatements.Guarded(table, change, ctx, new ChangeStatements.CommitCheck(lsn, ctx.CommitTimestamp, progressRow));
        }
        // Each form adds one transaction (or, for the first, one statement of the round's single transaction).
        var forms = new (string Name, bool OneTransaction, Action<NpgsqlBatch, string, ulong> Add)[]
        {
            ("200 updates in one transaction (per update)", true, (b, id, _) => Add(b, update, false, id)),
            ("BEGIN; UPDATE; COMMIT", false, (b, id, _) => { Add(b, "BEGIN", false); Add(b, update, false, id); Add(b, "COMMIT", false); }),
            ("BEGIN; guarded UPDATE carrying the origin's progress; COMMIT (pgmm)", false, (b, id, lsn) =>
                { Add(b, "BEGIN", false); b.BatchCommands.Add(Guarded(id, lsn)); Add(b, "COMMIT", false); }),
            ("UPDATE alone, a Sync after each (implicit transactions)", false, (b, id, _) => Add(b, update, true, id)),
            // The same with no progress row to write (its UPDATE finds none): what recording the progress in a table costs.
            ("the pgmm form without its progress row (ADR 0017)", false, (b, id, lsn) =>
                { Add(b, "BEGIN", false); b.BatchCommands.Add(Guarded(id, lsn, "bench_floor_no_row")); Add(b, "COMMIT", false); }),
        };

        Console.WriteLine("| form | tx/s | server backend CPU µs/tx | client CPU µs/tx |");
        Console.WriteLine("|---|---:|---:|---:|");
        ulong lsn = 0x1000_0000;
        foreach (var (name, oneTransaction, add) in forms)
        {
            await FreshTableAsync(conn);
            var random = new Random(1);
            await MeasureAsync(conn, name, Rounds * PerRound, async () =>
            {
                for (var r = 0; r < Rounds; r++)
                {
                    await using var batch = new NpgsqlBatch(conn);
                    for (var i = 0; i < PerRound; i++)
                        add(batch, random.Next(0, 10001).ToString(CultureInfo.InvariantCulture), lsn += 100);
                    if (oneTransaction)
                    {
                        batch.BatchCommands.Insert(0, new NpgsqlBatchCommand("BEGIN"));
                        batch.BatchCommands.Add(new NpgsqlBatchCommand("COMMIT"));
                    }
                    await batch.ExecuteNonQueryAsync();
                }
            });
        }
        await ProcedureAsync(conn, lsn);
    }

    /// <summary>
    /// Not (yet) a form the worker sends: the same guarded single-row UPDATE transactions applied by a PL/pgSQL
    /// procedure that commits after each one (its own commit, commit timestamp and origin progress), 200 per CALL
    /// with the values as arrays. Plans are cached by PL/pgSQL, and there is no protocol message per statement.
    /// It stops at the first change that meets a conflict and reports how many committed.
    /// </summary>
    private static async Task ProcedureAsync(NpgsqlConnection conn, ulong lsn)
    {
        await FreshTableAsync(conn);
        await using (var create = new NpgsqlCommand("""
            CREATE OR REPLACE PROCEDURE floor_apply(ids_text text[], balances_text text[], lsns_text text[], tss timestamptz[], source oid, INOUT applied int)
            LANGUAGE plpgsql AS $$
            DECLARE
              -- Each column's values are cast to its type once per call, not once per use.
              ids int[] := ids_text::int[];
              balances bigint[] := balances_text::bigint[];
              lsns pg_lsn[] := lsns_text::pg_lsn[];
            BEGIN
              applied := 0;
              FOR i IN 1 .. cardinality(ids) LOOP
                PERFORM pg_replication_origin_xact_setup(lsns[i], tss[i]);
                UPDATE floor_acct t SET balance = balances[i] WHERE t.id = ids[i]
                  AND (SELECT (o.roident = source AND o."timestamp" <= tss[i]) OR o."timestamp" IS NULL OR o."timestamp" < tss[i]
                       FROM pg_xact_commit_timestamp_origin(t.xmin) o);
                IF NOT FOUND THEN RETURN; END IF; -- a conflict: the caller resolves it, then sends the rest
                COMMIT;
                applied := i;
              END LOOP;
            END $$;
            """, conn))
            await create.ExecuteNonQueryAsync();
        await using var origin = new NpgsqlCommand("SELECT roident::text FROM pg_replication_origin WHERE roname = 'bench_floor'", conn);
        var roident = (string)(await origin.ExecuteScalarAsync())!;
        var random = new Random(1);
        var applied = 0;
        // Strictly increasing commit timestamps, as a source's are.
        var start = DateTime.UtcNow;
        var n = 0;
        await MeasureAsync(conn, "guarded UPDATE transactions in a procedure that commits each (200 per CALL)", Rounds * PerRound, async () =>
        {
            for (var r = 0; r < Rounds; r++)
            {
                var ids = new string[PerRound];
                var lsns = new string[PerRound];
                var tss = new DateTime[PerRound];
                for (var i = 0; i < PerRound; i++)
                {
                    ids[i] = random.Next(0, 10001).ToString(CultureInfo.InvariantCulture);
                    lsns[i] = new NpgsqlLogSequenceNumber(lsn += 100).ToString();
                    tss[i] = start.AddTicks(10 * n++);
                }
                await using var call = new NpgsqlCommand("CALL floor_apply($1, $2, $3, $4, $5::oid, NULL)", conn);
                call.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text, Value = ids });
                call.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text, Value = Enumerable.Repeat("1", PerRound).ToArray() });
                call.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text, Value = lsns });
                call.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.TimestampTz, Value = tss });
                call.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Text, Value = roident });
                applied += (int)(await call.ExecuteScalarAsync())!;
            }
        });
        // Each transaction committed on its own, under the origin: its progress is the last one's end.
        await using var check = new NpgsqlCommand("SELECT pg_replication_origin_session_progress(false)", conn);
        var progress = (NpgsqlLogSequenceNumber)(await check.ExecuteScalarAsync())!;
        if (applied != Rounds * PerRound || (ulong)progress != lsn)
            throw new InvalidOperationException($"the procedure applied {applied} of {Rounds * PerRound}; origin progress {progress}, expected {new NpgsqlLogSequenceNumber(lsn)}");
    }

    // Every form starts from the same fresh table (earlier forms' dead row versions would slow later ones).
    private static async Task FreshTableAsync(NpgsqlConnection conn)
    {
        await using (var fresh = new NpgsqlCommand("""
            DROP TABLE IF EXISTS floor_acct;
            CREATE TABLE floor_acct (id int PRIMARY KEY, balance bigint NOT NULL);
            INSERT INTO floor_acct SELECT g, 0 FROM generate_series(0, 10000) g;
            """, conn))
            await fresh.ExecuteNonQueryAsync();
        await using var vacuum = new NpgsqlCommand("VACUUM ANALYZE floor_acct", conn);
        await vacuum.ExecuteNonQueryAsync();
    }

    /// <summary>
    /// What a 1,000-row insert run costs the target server, by form: the plain set-based insert, the same with
    /// ON CONFLICT DO NOTHING, and pgmm's own two forms (built by <see cref="ChangeStatements"/>). 200 runs each,
    /// one transaction per run, into a fresh table shaped like the bulk benchmark's.
    /// </summary>
    public static async Task InsertRunsAsync(string connectionString)
    {
        const int runs = 200, rows = 1_000;
        await using var conn = await OpenAsync(connectionString, "SET synchronous_commit = off; SET pgmm.halt = 'off'");
        var relation = new RelationInfo(0, "public", "floor_bulk", ReplicaIdentity.Default,
            [new ColumnInfo("id", 20, true), new ColumnInfo("payload", 25, false), new ColumnInfo("amount", 1700, false), new ColumnInfo("at", 1184, false)]);
        var table = new TargetTable(relation, [0], false, ["bigint", "text", "numeric(12,2)", "timestamp with time zone"], ["bigint", "text", "numeric(12,2)", "timestamp with time zone"], ["=", "=", "=", "="],
            new TableRules(new ConflictOptions(), "public.floor_bulk"));
        const string unnest = "SELECT u.c0::bigint, u.c1::text, u.c2::numeric(12,2), u.c3::timestamptz FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u(c0, c1, c2, c3)";
        var forms = new (string Name, Func<IReadOnlyList<RowChange>, NpgsqlBatchCommand> Build)[]
        {
            ("INSERT … SELECT unnest(…)", run => Arrays($"INSERT INTO floor_bulk (id, payload, amount, at) {unnest}", run)),
            ("… ON CONFLICT DO NOTHING", run => Arrays($"INSERT INTO floor_bulk (id, payload, amount, at) {unnest} ON CONFLICT DO NOTHING", run)),
            ("… ON CONFLICT DO NOTHING RETURNING id", run => Arrays($"WITH w AS (INSERT INTO floor_bulk (id, payload, amount, at) {unnest} ON CONFLICT DO NOTHING RETURNING id) SELECT count(*) FROM w", run)),
            ("pgmm's guarded insert run (tombstone check, failed rows reported; mid-transaction)", run => ChangeStatements.InsertRun(table, run)),
            ("pgmm's optimistic insert run (a whole transaction; a conflict fails it)", run => ChangeStatements.OptimisticInsertRun(table, run)),
        };
        // The rows are made once, outside the measured time; building each form's statement is measured.
        var runsOfRows = Enumerable.Range(0, runs).Select(r => Enumerable.Range(0, rows).Select(i =>
        {
            var id = (r * rows + i).ToString(CultureInfo.InvariantCulture);
            return new RowChange(ChangeKind.Insert, relation, null,
                [Cell.Of(id), Cell.Of(id + new string('p', 90)), Cell.Of("12.34"), Cell.Of("2026-11-28 14:00:00.123456+00")]);
        }).ToList()).ToList();
        Console.WriteLine();
        Console.WriteLine("| 1,000-row insert run, form | rows/s | server backend CPU µs/row | client CPU µs/row |");
        Console.WriteLine("|---|---:|---:|---:|");
        foreach (var (name, build) in forms)
        {
            await using (var fresh = new NpgsqlCommand("""
                DROP TABLE IF EXISTS floor_bulk;
                CREATE TABLE floor_bulk (id bigint PRIMARY KEY, payload text NOT NULL, amount numeric(12,2), at timestamptz NOT NULL DEFAULT now());
                """, conn))
                await fresh.ExecuteNonQueryAsync();
            await MeasureAsync(conn, name, runs * rows, async () =>
            {
                foreach (var run in runsOfRows)
                {
                    await using var batch = new NpgsqlBatch(conn);
                    batch.BatchCommands.Add(new NpgsqlBatchCommand("BEGIN"));
                    batch.BatchCommands.Add(build(run));
                    batch.BatchCommands.Add(new NpgsqlBatchCommand("COMMIT"));
                    await batch.ExecuteNonQueryAsync();
                }
            });
        }
    }

    private static async Task<NpgsqlConnection> OpenAsync(string connectionString, string setup)
    {
        var conn = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(connectionString) { MaxAutoPrepare = 64, AutoPrepareMinUsages = 2 }.ConnectionString);
        await conn.OpenAsync();
        await using var command = new NpgsqlCommand(setup, conn);
        await command.ExecuteNonQueryAsync();
        return conn;
    }

    /// <summary>Runs <paramref name="work"/> and prints its table row: rate, and the server backend's and this process's CPU per unit.</summary>
    private static async Task MeasureAsync(NpgsqlConnection conn, string name, int units, Func<Task> work)
    {
        var client = Process.GetCurrentProcess().TotalProcessorTime;
        var server = ProcessStats.CpuSeconds(conn.ProcessID);
        var clock = Stopwatch.StartNew();
        await work();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| {name} | {units / clock.Elapsed.TotalSeconds:N0} | {(ProcessStats.CpuSeconds(conn.ProcessID) - server) * 1e6 / units:F2} | {(Process.GetCurrentProcess().TotalProcessorTime - client).TotalMicroseconds / units:F2} |"));
    }

    private static NpgsqlBatchCommand Arrays(string sql, IReadOnlyList<RowChange> run)
    {
        var command = new NpgsqlBatchCommand(sql);
        for (var c = 0; c < run[0].New!.Length; c++)
            command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text, Value = run.Select(x => x.New![c].Text).ToArray() });
        return command;
    }

    private static void Add(NpgsqlBatch batch, string sql, bool sync, params string[] values)
    {
        var command = new NpgsqlBatchCommand(sql) { AppendErrorBarrier = sync };
        foreach (var v in values) command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Unknown, Value = v });
        batch.BatchCommands.Add(command);
    }
}
