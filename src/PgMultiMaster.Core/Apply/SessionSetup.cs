using Microsoft.Extensions.Logging;
using Npgsql;
using NpgsqlTypes;
using PgMultiMaster.Configuration;
using PgMultiMaster.Diagnostics;
using PgMultiMaster.Topology;

namespace PgMultiMaster.Apply;

/// <summary>
/// Prepares a new apply connection: its session settings, the link's replication origin (held by this session from now
/// on), the node behind each origin id, where the origin's progress stands and how the target's clock compares to ours.
/// </summary>
internal static class SessionSetup
{
    public sealed record Prepared(ApplyContext Context, ulong Progress, TimeSpan ClockOffset);

    public static async Task<Prepared> RunAsync(NpgsqlConnection conn, Link link, PgMultiMasterOptions options, ILogger logger,
        TimeProvider time, CancellationToken ct)
    {
        if (options.Apply.ReplicaRole)
        {
            try
            {
                await TargetTransaction.ExecAsync(conn, "SET session_replication_role = replica", ct).ConfigureAwait(false);
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InsufficientPrivilege)
            {
                Log.ReplicaRoleDenied(logger, link.ToString(), link.Target.Name);
            }
        }
        // Commits need not wait for the disk: the source slot is confirmed only past what the target has flushed
        // (FeedbackGate), so a target crash loses nothing the source still has to send.
        if (!options.Apply.SynchronousCommit)
            await TargetTransaction.ExecAsync(conn, "SET synchronous_commit = off", ct).ConfigureAwait(false);
        // Statements set pgmm.halt only with SET LOCAL semantics: every transaction starts from this value. Read committed
        // whatever the database's default: a serializable COMMIT may fail after the origin's progress is set, and on
        // PostgreSQL 16+ the abort then still moves the progress past the transaction (see ChangeStatements.CheckDeferred).
        await TargetTransaction.ExecAsync(conn, "SET pgmm.halt = 'off'; SET default_transaction_isolation = 'read committed'", ct).ConfigureAwait(false);
        // An origin is held by one session at a time: a previous worker's session still open makes this fail
        // (55006), and the link retries until the server has ended it.
        await using (var setup = new NpgsqlCommand("SELECT pg_catalog.pg_replication_origin_session_setup($1)", conn))
        {
            setup.Parameters.Add(new NpgsqlParameter { Value = link.OriginName });
            await setup.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
        // Every applied commit rewrites its origin's row (ChangeStatements.CommitCheck); it starts where the origin is.
        await using (var record = new NpgsqlCommand(
            "INSERT INTO pgmm.applied_progress (origin, lsn) VALUES ($1, coalesce(pg_catalog.pg_replication_origin_session_progress(false), '0/0')) " +
            "ON CONFLICT (origin) DO NOTHING", conn))
        {
            record.Parameters.Add(new NpgsqlParameter { Value = link.OriginName });
            try { await record.ExecuteNonQueryAsync(ct).ConfigureAwait(false); }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
            {
                throw new InvalidOperationException(
                    $"node '{link.Target.Name}': the pgmm schema is older than this worker (no pgmm.applied_progress); run 'pgmm init' to bring it up to date.", e);
            }
        }

        var nodes = new Dictionary<uint, string> { [0] = link.Target.Name };
        var prefix = options.Cluster + "_";
        await using (var origins = new NpgsqlCommand("SELECT roident, roname FROM pg_replication_origin", conn))
        await using (var r = await origins.ExecuteReaderAsync(ct).ConfigureAwait(false))
            while (await r.ReadAsync(ct).ConfigureAwait(false))
            {
                var name = r.GetString(1);
                nodes[r.GetFieldValue<uint>(0)] = name.StartsWith(prefix, StringComparison.Ordinal) ? name[prefix.Length..] : name;
            }
        var ctx = new ApplyContext
        {
            SourceNode = link.Source.Name, OriginName = link.OriginName,
            SourceRoident = nodes.First(n => n.Value == link.Source.Name && n.Key != 0).Key, NodeByRoident = nodes,
        };

        await using (var progress = new NpgsqlCommand("SELECT pg_catalog.pg_replication_origin_session_progress(true), pg_catalog.clock_timestamp()", conn))
        {
            var sent = time.GetUtcNow().UtcDateTime;
            await using var r = await progress.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await r.ReadAsync(ct).ConfigureAwait(false);
            var applied = r.IsDBNull(0) ? 0 : (ulong)r.GetFieldValue<NpgsqlLogSequenceNumber>(0);
            // Skew that matters is between the source's clock (commit timestamps) and the target's.
            var offset = r.GetDateTime(1) - (sent + (time.GetUtcNow().UtcDateTime - sent) / 2);
            return new Prepared(ctx, applied, offset);
        }
    }
}
