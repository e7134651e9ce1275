using System.Collections.Concurrent;
using Dapper;
using Npgsql;
using PgMultiMaster.Configuration;
using PgMultiMaster.Setup;
using PgMultiMaster.Sql;
using PgMultiMaster.Topology;

namespace PgMultiMaster.Membership;

/// <summary>How a copy runs: tables at once, applied rows firing no triggers, and where its progress is told.</summary>
/// <param name="Jobs">Tables copied at the same time (one source and one target connection each).</param>
/// <param name="ReplicaRole">Copy with <c>session_replication_role = replica</c>, as the apply does: no user triggers,
/// no foreign-key checks (tables arrive in any order).</param>
public sealed record CopySettings(int Jobs, bool ReplicaRole, TimeSpan ReportEvery, Action<string> Report);

/// <summary>
/// Copies the replicated tables of a source node, as an <see cref="ExportedSnapshot"/> holds them, into a target node
/// whose tables are empty. ADR 0017 explains the commit timestamps and origins the copied rows carry:
/// <list type="bullet">
/// <item>In bulk, in parallel, under copy origins with the commit timestamp <c>-infinity</c>: older than any change
/// still to come, so each later change applies as it would on the source.</item>
/// <item>With <see cref="Recent"/> (a node joining a running cluster), the rows and tombstones written since
/// <see cref="Recent.Since"/> are copied exactly instead: one target transaction per source transaction, with its
/// commit timestamp and under its origin, so a conflicting change still in flight is resolved on the new node as on
/// the source.</item>
/// </list>
/// Each origin's progress on the target ends at what the snapshot holds from it.
/// </summary>
public sealed class SnapshotCopy(ClusterTopology topology, NodeOptions source, NodeOptions target, CopySettings settings, TimeProvider time)
{
    /// <summary>Rows committed at or after <paramref name="Since"/> (the source's clock) are copied exactly.</summary>
    /// <param name="Applied">Per peer origin, what the snapshot holds of it: the end LSN and commit time (text) of
    /// the last transaction the source applied from it (pgmm.applied_progress).</param>
    public sealed record Recent(string Since, IReadOnlyDictionary<string, (ulong Lsn, string? CommittedAt)> Applied);

    private sealed record Table(string Name, string Quoted, string Columns, bool Binary, long Size);

    private const string Applied = "pgmm_applied";

    public async Task<CopyProgress> RunAsync(ExportedSnapshot snapshot, IReadOnlyList<ReplicatedTable> tables, Recent? recent, CancellationToken ct)
    {
        var jobs = Math.Max(1, Math.Min(settings.Jobs, tables.Count));
        var sources = new List<NpgsqlConnection>();
        try
        {
            // Every session that reads the snapshot imports it before the replication connection is let go.
            for (var i = 0; i < jobs + (recent is null ? 0 : 1); i++)
                sources.Add(await snapshot.ImportAsync(source.ConnectionString, "pgmm copy", ct).ConfigureAwait(false));
            await snapshot.DisposeAsync().ConfigureAwait(false);

            var described = new List<Table>();
            foreach (var t in tables) described.Add(await DescribeAsync(sources[0], t.Schema, t.Name, ct).ConfigureAwait(false));
            var (rows, bytes) = await EstimateAsync(sources[0], tables, ct).ConfigureAwait(false);
            var progress = new CopyProgress($"{source.Name} -> {target.Name}", rows, bytes, time);

            using var reporting = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var reporter = ReportAsync(progress, tables.Count, reporting.Token);
            try
            {
                var bulkFilter = recent is null ? null : $"NOT coalesce((SELECT o.\"timestamp\" >= {Quote.Literal(recent.Since)}::timestamptz " +
                                                         "FROM pg_catalog.pg_xact_commit_timestamp_origin(t.xmin) o), false)";
                var queue = new ConcurrentQueue<Table>(described.OrderByDescending(t => t.Size));
                await Task.WhenAll(Enumerable.Range(0, jobs).Select(j => BulkAsync(j + 1, sources[j], queue, bulkFilter, snapshot.ConsistentPoint, progress, ct)))
                    .ConfigureAwait(false);
                if (recent is not null)
                {
                    described.Add(await DescribeAsync(sources[^1], "pgmm", "tombstone", ct).ConfigureAwait(false));
                    await RecentAsync(sources[^1], described, recent, snapshot.ConsistentPoint, progress, ct).ConfigureAwait(false);
                }
                await SetProgressAsync(recent, snapshot.ConsistentPoint, ct).ConfigureAwait(false);
            }
            finally
            {
                await reporting.CancelAsync().ConfigureAwait(false);
                try { await reporter.ConfigureAwait(false); } catch (OperationCanceledException) { /* stopped with the copy */ }
            }
            progress.Finish();
            await DropCopyOriginsAsync(jobs, ct).ConfigureAwait(false);
            settings.Report(progress.Describe(tables.Count) + $", done in {progress.Elapsed.TotalSeconds:0.0} s");
            return progress;
        }
        finally
        {
            foreach (var s in sources) await s.DisposeAsync().ConfigureAwait(false);
        }
    }

    private async Task ReportAsync(CopyProgress progress, int tables, CancellationToken ct)
    {
        while (true)
        {
            await Task.Delay(settings.ReportEvery, time, ct).ConfigureAwait(false);
            settings.Report(progress.Describe(tables));
        }
    }

    /// <summary>One job: tables from the queue, each in a transaction of its own that records it in pgmm.copy_state.</summary>
    private async Task BulkAsync(int job, NpgsqlConnection from, ConcurrentQueue<Table> queue, string? filter, ulong consistentPoint,
        CopyProgress progress, CancellationToken ct)
    {
        await using var to = await OpenTargetAsync(topology.CopyOriginName(job), create: true, ct).ConfigureAwait(false);
        while (queue.TryDequeue(out var table))
        {
            await ExecAsync(to, "BEGIN", ct).ConfigureAwait(false);
            var query = $"SELECT {table.Columns} FROM {table.Quoted} t" + (filter is null ? "" : $" WHERE {filter}");
            var (rows, bytes) = await TablePipe.CopyAsync(from, to, query, table.Quoted, table.Columns, table.Binary, progress, ct).ConfigureAwait(false);
            // -infinity: older than every change still to come, which therefore applies to these rows without a conflict.
            await ExecAsync(to, "SELECT pg_catalog.pg_replication_origin_xact_setup($1::pg_lsn, '-infinity')", ct, Lsn(consistentPoint)).ConfigureAwait(false);
            await ExecAsync(to, """
                INSERT INTO pgmm.copy_state (table_name, source, rows, bytes) VALUES ($1, $2, $3, $4)
                ON CONFLICT (table_name) DO UPDATE SET source = excluded.source, rows = excluded.rows, bytes = excluded.bytes, copied_at = excluded.copied_at
                """, ct, table.Name, source.Name, rows, bytes).ConfigureAwait(false);
            await ExecAsync(to, "COMMIT", ct).ConfigureAwait(false);
            progress.TableDone();
        }
    }

    /// <summary>
    /// Rows (and tombstones) written since <see cref="Recent.Since"/>: one target transaction per source transaction,
    /// committed under the origin of the node that wrote it, with its commit timestamp. The rows first go, with their
    /// commit time and origin, into staging tables on the target (one pass over each source table); the transactions
    /// are then replayed from there, many to a round trip.
    /// </summary>
    private async Task RecentAsync(NpgsqlConnection from, IReadOnlyList<Table> tables, Recent recent, ulong consistentPoint,
        CopyProgress progress, CancellationToken ct)
    {
        var origins = await OriginsAsync(from, ct).ConfigureAwait(false);
        await using var stager = await ConnectionStrings.OpenAdminAsync(target.ConnectionString, "pgmm copy", ct).ConfigureAwait(false);
        var staged = new List<(Table Table, string Stage)>();
        try
        {
            var groups = new SortedDictionary<(string Origin, string At, long Roident), List<(Table Table, string Stage)>>();
            foreach (var table in tables)
            {
                var stage = $"pgmm.copy_stage_{staged.Count}";
                await ExecAsync(stager, $"DROP TABLE IF EXISTS {stage}; CREATE UNLOGGED TABLE {stage} AS " +
                                        $"SELECT NULL::timestamptz AS pgmm_at, NULL::oid AS pgmm_roident, {table.Columns} FROM {table.Quoted} WHERE false", ct).ConfigureAwait(false);
                staged.Add((table, stage));
                var query = $"SELECT o.\"timestamp\", o.roident, {table.Columns} FROM {table.Quoted} t, pg_catalog.pg_xact_commit_timestamp_origin(t.xmin) o " +
                            $"WHERE o.\"timestamp\" >= {Quote.Literal(recent.Since)}::timestamptz";
                await TablePipe.CopyAsync(from, stager, query, stage, "pgmm_at, pgmm_roident, " + table.Columns, table.Binary, progress, ct).ConfigureAwait(false);
                await ExecAsync(stager, $"CREATE INDEX ON {stage} (pgmm_at, pgmm_roident)", ct).ConfigureAwait(false);
                foreach (var (at, roident) in await stager.QueryAsync<(string, long)>(new CommandDefinition(
                             $"SELECT DISTINCT pgmm_at::text, pgmm_roident::bigint FROM {stage}", cancellationToken: ct)).ConfigureAwait(false))
                {
                    var key = (origins.GetValueOrDefault((int)roident, topology.OriginName(source.Name)), at, roident);
                    if (!groups.TryGetValue(key, out var list)) groups[key] = list = [];
                    list.Add((table, stage));
                }
            }
            foreach (var byOrigin in groups.GroupBy(g => g.Key.Origin))
            {
                var lsn = Lsn(byOrigin.Key == topology.OriginName(source.Name) ? consistentPoint : recent.Applied.GetValueOrDefault(byOrigin.Key).Lsn);
                await using var to = await OpenTargetAsync(byOrigin.Key, create: false, ct).ConfigureAwait(false);
                foreach (var chunk in byOrigin.Chunk(100))
                {
                    await using var batch = new NpgsqlBatch(to);
                    foreach (var ((_, at, roident), inGroup) in chunk)
                    {
                        batch.BatchCommands.Add(new NpgsqlBatchCommand("BEGIN"));
                        foreach (var (table, stage) in inGroup)
                            batch.BatchCommands.Add(new NpgsqlBatchCommand(
                                $"INSERT INTO {table.Quoted} ({table.Columns}) SELECT {table.Columns} FROM {stage} WHERE pgmm_at = $1::timestamptz AND pgmm_roident = $2::oid")
                                { Parameters = { new() { Value = at }, new() { Value = roident.ToString(System.Globalization.CultureInfo.InvariantCulture) } } });
                        batch.BatchCommands.Add(new NpgsqlBatchCommand("SELECT pg_catalog.pg_replication_origin_xact_setup($1::pg_lsn, $2::timestamptz)")
                            { Parameters = { new() { Value = lsn }, new() { Value = at } } });
                        batch.BatchCommands.Add(new NpgsqlBatchCommand("COMMIT"));
                    }
                    await batch.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            foreach (var (_, stage) in staged) await ExecAsync(stager, $"DROP TABLE IF EXISTS {stage}", CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Each origin's progress on the target, and its row in pgmm.applied_progress, end at what the snapshot holds from
    /// it: the source's own changes up to the slot's consistent point, every other node's up to what the source had
    /// applied. (Progress only moves forward, so the copies committed under these origins never set it further.)
    /// </summary>
    private async Task SetProgressAsync(Recent? recent, ulong consistentPoint, CancellationToken ct)
    {
        var positions = new Dictionary<string, (ulong Lsn, string? At)> { [topology.OriginName(source.Name)] = (consistentPoint, null) };
        var peers = topology.Options.Nodes.Where(n => n.Name != target.Name).Select(n => topology.OriginName(n.Name)).ToHashSet();
        foreach (var (origin, applied) in recent?.Applied ?? new Dictionary<string, (ulong, string?)>())
            if (peers.Contains(origin) && origin != topology.OriginName(source.Name)) positions[origin] = applied;
        foreach (var (origin, (lsn, at)) in positions)
        {
            await using var to = await OpenTargetAsync(origin, create: false, ct).ConfigureAwait(false);
            await ExecAsync(to, "BEGIN", ct).ConfigureAwait(false);
            await ExecAsync(to, """
                INSERT INTO pgmm.applied_progress (origin, lsn, committed_at) VALUES ($1, $2::pg_lsn, $3::timestamptz)
                ON CONFLICT (origin) DO UPDATE SET lsn = excluded.lsn, committed_at = excluded.committed_at
                """, ct, origin, Lsn(lsn), (object?)at ?? DBNull.Value).ConfigureAwait(false);
            await ExecAsync(to, "SELECT pg_catalog.pg_replication_origin_xact_setup($1::pg_lsn, coalesce($2::timestamptz, pg_catalog.clock_timestamp()))",
                ct, Lsn(lsn), (object?)at ?? DBNull.Value).ConfigureAwait(false);
            await ExecAsync(to, "COMMIT", ct).ConfigureAwait(false);
        }
    }

    /// <summary>The source's origins by id, as this cluster's origin names; the source's own writes are origin 0.</summary>
    private async Task<Dictionary<int, string>> OriginsAsync(NpgsqlConnection from, CancellationToken ct)
    {
        var origins = new Dictionary<int, string> { [0] = topology.OriginName(source.Name) };
        var nodes = topology.Options.Nodes.Select(n => topology.OriginName(n.Name)).ToHashSet();
        foreach (var (id, name) in await from.QueryAsync<(int, string)>(new CommandDefinition(
                     "SELECT roident::int, roname FROM pg_catalog.pg_replication_origin", cancellationToken: ct)).ConfigureAwait(false))
            if (nodes.Contains(name)) origins[id] = name; // others (copies, repairs, foreign replication): the source's own
        return origins;
    }

    private async Task<NpgsqlConnection> OpenTargetAsync(string origin, bool create, CancellationToken ct)
    {
        var conn = await ConnectionStrings.OpenAdminAsync(target.ConnectionString, "pgmm copy", ct).ConfigureAwait(false);
        try
        {
            if (settings.ReplicaRole) await ExecAsync(conn, "SET session_replication_role = replica", ct).ConfigureAwait(false);
            if (create)
                await ExecAsync(conn, "SELECT pg_catalog.pg_replication_origin_create($1) WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_replication_origin WHERE roname = $1)",
                    ct, origin).ConfigureAwait(false);
            // Nothing else may hold it: the link into the target from that node runs only once the copy is done.
            await ExecAsync(conn, "SELECT pg_catalog.pg_replication_origin_session_setup($1)", ct, origin).ConfigureAwait(false);
            return conn;
        }
        catch
        {
            await conn.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async Task DropCopyOriginsAsync(int jobs, CancellationToken ct)
    {
        await using var conn = await ConnectionStrings.OpenAdminAsync(target.ConnectionString, "pgmm copy", ct).ConfigureAwait(false);
        for (var job = 1; job <= jobs; job++)
            await ExecAsync(conn, "SELECT pg_catalog.pg_replication_origin_drop(roname) FROM pg_catalog.pg_replication_origin WHERE roname = $1",
                ct, topology.CopyOriginName(job)).ConfigureAwait(false);
    }

    /// <summary>The columns a COPY can write (generated ones are computed by the target), and whether binary suits them.</summary>
    private static async Task<Table> DescribeAsync(NpgsqlConnection conn, string schema, string name, CancellationToken ct)
    {
        var quoted = Quote.Table(schema, name);
        var columns = (await conn.QueryAsync<(string Name, bool BuiltIn)>(new CommandDefinition(
            """
            SELECT a.attname::text, a.atttypid < 16384 FROM pg_catalog.pg_attribute a
            WHERE a.attrelid = pg_catalog.to_regclass(@quoted) AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
            ORDER BY a.attnum
            """, new { quoted }, cancellationToken: ct)).ConfigureAwait(false)).ToList();
        var size = await conn.ExecuteScalarAsync<long>(new CommandDefinition(
            "SELECT coalesce(pg_catalog.pg_total_relation_size(pg_catalog.to_regclass(@quoted)), 0)", new { quoted }, cancellationToken: ct)).ConfigureAwait(false);
        return new Table($"{schema}.{name}", quoted, string.Join(", ", columns.Select(c => Quote.Ident(c.Name))), columns.All(c => c.BuiltIn), size);
    }

    private static async Task<(long Rows, long Bytes)> EstimateAsync(NpgsqlConnection conn, IReadOnlyList<ReplicatedTable> tables, CancellationToken ct) =>
        await conn.QuerySingleAsync<(long, long)>(new CommandDefinition(
            """
            SELECT coalesce(sum(greatest(c.reltuples, 0)), 0)::bigint, coalesce(sum(pg_catalog.pg_table_size(c.oid)), 0)::bigint
            FROM pg_catalog.pg_class c WHERE c.oid = ANY (SELECT pg_catalog.to_regclass(t) FROM pg_catalog.unnest(@tables) t)
            """, new { tables = tables.Select(t => t.Quoted).ToArray() }, cancellationToken: ct)).ConfigureAwait(false);

    private static string Lsn(ulong lsn) => new NpgsqlTypes.NpgsqlLogSequenceNumber(lsn).ToString();

    private static async Task ExecAsync(NpgsqlConnection conn, string sql, CancellationToken ct, params object?[] args)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        foreach (var a in args) cmd.Parameters.Add(new NpgsqlParameter { Value = a ?? DBNull.Value });
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }
}
