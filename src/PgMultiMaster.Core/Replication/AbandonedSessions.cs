using Microsoft.Extensions.Logging;
using Npgsql;
using PgMultiMaster.Configuration;
using PgMultiMaster.Diagnostics;
using PgMultiMaster.Sql;

namespace PgMultiMaster.Replication;

/// <summary>
/// The server sessions of a link's previous attempts. A server learns that its client went away only from the socket,
/// and a connection given up because it went silent (a partition: no FIN, no RST) tells it nothing: the walsender
/// keeps the slot until <c>wal_sender_timeout</c>, and the apply session keeps the replication origin until the
/// server's TCP keepalive notices — two hours by default. Meanwhile the link's new sessions fail with 55006 ("is
/// already active for PID"). Before it connects again, a link ends those of its own sessions that are still there:
/// the very backends it had (by process id), and only while they carry the link's application name.
/// </summary>
internal sealed class AbandonedSessions(string link, ILogger logger)
{
    private readonly List<(NodeOptions Node, int Pid, string Application)> _sessions = [];

    /// <summary>A session of this attempt: ended at the start of the next one if the server still has it.</summary>
    public void Opened(NodeOptions node, int pid, string application) => _sessions.Add((node, pid, application));

    public async Task EndAsync(CancellationToken ct)
    {
        foreach (var session in _sessions.ToList())
        {
            var (node, pid, application) = session;
            await using var conn = await ConnectionStrings.OpenAdminAsync(node.ConnectionString, $"pgmm reconnect {link}", ct).ConfigureAwait(false);
            // Waits up to 10 s for the backend to exit, so the slot or origin is free when the link connects.
            await using var cmd = new NpgsqlCommand(
                "SELECT pg_catalog.pg_terminate_backend(pid, 10000) FROM pg_catalog.pg_stat_activity WHERE pid = $1 AND application_name = $2", conn);
            cmd.Parameters.Add(new NpgsqlParameter { Value = pid });
            cmd.Parameters.Add(new NpgsqlParameter { Value = application });
            try
            {
                var ended = await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false);
                if (ended is false) continue; // still exiting: again next time
                if (ended is true) Log.AbandonedSessionEnded(logger, link, node.Name, pid);
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InsufficientPrivilege)
            {
                // Not ours to end after all: the server ends it when it notices.
                Log.AbandonedSessionKept(logger, link, node.Name, pid, e.MessageText);
            }
            _sessions.Remove(session);
        }
    }
}
