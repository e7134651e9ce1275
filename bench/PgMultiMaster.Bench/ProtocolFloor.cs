using System.Diagnostics;
using System.Globalization;
using Npgsql;
using NpgsqlTypes;

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
        var cs = new NpgsqlConnectionStringBuilder(connectionString) { MaxAutoPrepare = 64, AutoPrepareMinUsages = 2 }.ConnectionString;
        await using var conn = new NpgsqlConnection(cs);
        await conn.OpenAsync();
        await using (var setup = new NpgsqlCommand("""
            SELECT pg_replication_origin_create('bench_floor') WHERE NOT EXISTS (SELECT FROM pg_replication_origin WHERE roname = 'bench_floor');
            SET synchronous_commit = off; SET pgmm.halt = 'off';
            SELECT pg_replication_origin_session_setup('bench_floor');
            """, conn))
            await setup.ExecuteNonQueryAsync();
        var backend = conn.ProcessID;

        const string update = "UPDATE floor_acct SET balance = balance + 1 WHERE id = $1::int";
        // The guarded form the worker sends for a single-row transaction (ChangeStatements.Guarded carrying its commit).
        const string guarded = "WITH w AS (UPDATE floor_acct t SET balance = t.balance + 1 WHERE t.id = $1::int AND current_setting('pgmm.halt') = 'off' " +
                               "AND (SELECT (o.roident = 7::oid AND o.\"timestamp\" <= $4::timestamptz) OR o.\"timestamp\" IS NULL OR o.\"timestamp\" < $4::timestamptz " +
                               "FROM pg_xact_commit_timestamp_origin(t.xmin) o) RETURNING 1) " +
                               "SELECT CASE WHEN EXISTS (SELECT 1 FROM w) AND current_setting('pgmm.halt') = 'off' " +
                               "THEN pg_replication_origin_xact_setup($2::pg_lsn, $3::timestamptz) IS NULL END";
        var forms = new (string Name, Action<NpgsqlBatch, string, string, string> Add)[]
        {
            ("200 updates in one transaction (per update)", (b, id, _, _) => Add(b, update, false, id)),
            ("BEGIN; UPDATE; COMMIT", (b, id, _, _) => { Add(b, "BEGIN", false); Add(b, update, false, id); Add(b, "COMMIT", false); }),
            ("BEGIN; guarded UPDATE carrying the origin's progress; COMMIT (pgmm)", (b, id, lsn, ts) =>
                { Add(b, "BEGIN", false); Add(b, guarded, false, id, lsn, ts, ts); Add(b, "COMMIT", false); }),
            ("UPDATE alone, a Sync after each (implicit transactions)", (b, id, _, _) => Add(b, update, true, id)),
        };

        Console.WriteLine("| form | tx/s | server backend CPU µs/tx | client CPU µs/tx |");
        Console.WriteLine("|---|---:|---:|---:|");
        ulong lsn = 0x1000_0000;
        foreach (var (name, add) in forms)
        {
            // Every form starts from the same fresh table (earlier forms' dead row versions would slow later ones).
            await using (var fresh = new NpgsqlCommand("""
                DROP TABLE IF EXISTS floor_acct;
                CREATE TABLE floor_acct (id int PRIMARY KEY, balance bigint NOT NULL);
                INSERT INTO floor_acct SELECT g, 0 FROM generate_series(0, 10000) g;
                """, conn))
                await fresh.ExecuteNonQueryAsync();
            await using (var vacuum = new NpgsqlCommand("VACUUM ANALYZE floor_acct", conn))
                await vacuum.ExecuteNonQueryAsync();
            var random = new Random(1);
            var client = Process.GetCurrentProcess().TotalProcessorTime;
            var server = ProcessStats.CpuSeconds(backend);
            var clock = Stopwatch.StartNew();
            for (var r = 0; r < Rounds; r++)
            {
                await using var batch = new NpgsqlBatch(conn);
                for (var i = 0; i < PerRound; i++)
                    add(batch, random.Next(0, 10001).ToString(CultureInfo.InvariantCulture), new NpgsqlLogSequenceNumber(lsn += 100).ToString(),
                        DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm:ss.ffffff'+00'", CultureInfo.InvariantCulture));
                if (name.StartsWith("200", StringComparison.Ordinal))
                {
                    batch.BatchCommands.Insert(0, new NpgsqlBatchCommand("BEGIN"));
                    batch.BatchCommands.Add(new NpgsqlBatchCommand("COMMIT"));
                }
                await batch.ExecuteNonQueryAsync();
            }
            var n = Rounds * PerRound;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {name} | {n / clock.Elapsed.TotalSeconds:N0} | {(ProcessStats.CpuSeconds(backend) - server) * 1e6 / n:F1} | {(Process.GetCurrentProcess().TotalProcessorTime - client).TotalMicroseconds / n:F1} |"));
        }
    }

    private static void Add(NpgsqlBatch batch, string sql, bool sync, params string[] values)
    {
        var command = new NpgsqlBatchCommand(sql) { AppendErrorBarrier = sync };
        foreach (var v in values) command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Unknown, Value = v });
        batch.BatchCommands.Add(command);
    }
}
