using Microsoft.Extensions.Logging;
using Npgsql;
using NpgsqlTypes;
using PgMultiMaster.Apply;
using PgMultiMaster.Diagnostics;
using PgMultiMaster.Setup;
using PgMultiMaster.Sql;
using PgMultiMaster.Topology;

namespace PgMultiMaster.Membership;

/// <summary>
/// <c>pgmm node remove</c>: takes one node out of a running cluster. Graceful by default — what the node wrote is
/// applied on every survivor first — or forced for a node that is gone for good. Then it drops, on every survivor, the
/// slot toward the node (so its WAL is released) and the node's origin, and on the node itself (when reachable) its
/// slots, origins, publications, tombstone triggers and claim. Running workers keep their links to the node until they
/// are restarted with a configuration that no longer lists it: the sessions that hold what is dropped are ended, and
/// those links then retry without a slot or origin to resume from (never "slot lost": see docs/operations.md).
/// Idempotent: run again after a failure, it does what is left.
/// </summary>
public sealed class NodeRemover(RemovalPlan plan, ILogger logger, TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly ClusterTopology _topology = plan.Topology;

    /// <summary>How long to keep ending the sessions that hold a slot or origin and trying to drop it (a worker reconnects).</summary>
    private static readonly TimeSpan DropPatience = TimeSpan.FromSeconds(30);

    /// <summary>What the removal did beyond the drops: the node reached or not, and what the operator should know.</summary>
    public sealed record Outcome(bool NodeReached, IReadOnlyList<string> Warnings);

    /// <param name="force">Skip draining; the node need not be reachable.</param>
    /// <param name="timeout">How long each wait (the node's links, then the survivors' echoes) may take.</param>
    public async Task<Outcome> RemoveAsync(bool force, TimeSpan timeout, CancellationToken ct)
    {
        var name = plan.Node.Name;
        var warnings = new List<string>();

        // Every survivor must be reachable before anything is dropped: a survivor missed would keep WAL for the node.
        var unreachable = new List<string>();
        foreach (var s in plan.Survivors)
        {
            try { await using var _ = await OpenAsync(s, ct).ConfigureAwait(false); }
            catch (Exception e) when (e is NpgsqlException or TimeoutException or System.Net.Sockets.SocketException) { unreachable.Add($"{s.Name}: {e.Message}"); }
        }
        if (unreachable.Count > 0)
            throw new RemovalFailedException($"every other node must be reachable to remove '{name}', and these are not: {string.Join("; ", unreachable)}. Nothing was changed.");

        var reached = await CanReachAsync(force, ct).ConfigureAwait(false);
        if (reached is { } why)
        {
            if (!force)
                throw new RemovalFailedException($"node '{name}' cannot be reached ({why}). Remove it once it is back, so that what it wrote reaches the " +
                                                 $"other nodes first; or, if it is gone for good, with --force (what it wrote that some node has not applied is then lost). Nothing was changed.");
            warnings.Add($"node '{name}' cannot be reached ({why}): its own slots, origins, publications and triggers were left as they are. " +
                         "If its server comes back, drop them there by hand before using it again (docs/operations.md: Removing a node).");
        }

        if (!force)
            await DrainAsync(timeout, ct).ConfigureAwait(false);
        else
            Log.Setup(logger, $"--force: not waiting for the links of '{name}'. What '{name}' wrote that a node had not applied yet is lost for that node.");

        // The survivors' links among themselves must have read past what they received from the node while its origin
        // still exists: decoded after the origin is dropped, those transactions would carry no origin and be forwarded as
        // the survivor's own.
        try
        {
            await EchoDrainAsync(timeout, ct).ConfigureAwait(false);
        }
        catch (RemovalFailedException e) when (force)
        {
            warnings.Add($"{e.Message} Changes of '{name}' that a node applied and has not sent on yet will reach the others as that node's own (seen as conflicts there).");
        }

        // The order keeps a link that reconnects meanwhile from ever seeing a slot without its origin (ADR 0013's "slot
        // lost"): each link loses its target's origin before its slot.
        foreach (var s in plan.Survivors)
        {
            await using var conn = await OpenAsync(s, ct).ConfigureAwait(false);
            await DropOriginAsync(conn, s.Name, plan.Origin, TargetSession.ApplicationName(plan.Outgoing.Single(l => l.Target.Name == s.Name)), ct).ConfigureAwait(false);
        }
        if (reached is null)
        {
            await using var conn = await OpenAsync(plan.Node, ct).ConfigureAwait(false);
            foreach (var s in plan.Survivors)
                await DropOriginAsync(conn, name, _topology.OriginName(s.Name), TargetSession.ApplicationName(plan.Incoming.Single(l => l.Source.Name == s.Name)), ct).ConfigureAwait(false);
            var recorded = await ServerObjects.HasSlotRecordsAsync(conn, ct).ConfigureAwait(false);
            foreach (var link in plan.Outgoing)
                await DropSlotAsync(conn, name, link.SlotName, recorded, ct).ConfigureAwait(false);
        }
        foreach (var s in plan.Survivors)
        {
            await using var conn = await OpenAsync(s, ct).ConfigureAwait(false);
            var recorded = await ServerObjects.HasSlotRecordsAsync(conn, ct).ConfigureAwait(false);
            await DropSlotAsync(conn, s.Name, _topology.SlotName(s.Name, name), recorded, ct).ConfigureAwait(false);
            var parked = await CountParkedAsync(conn, name, ct).ConfigureAwait(false);
            if (parked > 0)
                warnings.Add($"node '{s.Name}' has {parked} parked change(s) from '{name}' in pgmm.dead_letter: no worker retries them any more. " +
                             $"Repair those rows by hand, then pgmm dead-letter discard --on {s.Name} --id N.");
        }
        if (reached is null)
        {
            await using var conn = await OpenAsync(plan.Node, ct).ConfigureAwait(false);
            await ServerObjects.DropNodeObjectsAsync(conn, _topology, ct).ConfigureAwait(false);
            Log.Setup(logger, $"node '{name}': dropped its publications, tombstone triggers and its claim in pgmm.node (its pgmm schema and records stay)");
        }
        return new Outcome(reached is null, warnings);
    }

    /// <summary>Null when the node answers; else why not. Forced, a dead node is given little time.</summary>
    private async Task<string?> CanReachAsync(bool force, CancellationToken ct)
    {
        try
        {
            var cs = new NpgsqlConnectionStringBuilder(plan.Node.ConnectionString);
            if (force) cs.Timeout = Math.Min(cs.Timeout, 5);
            await using var conn = await ConnectionStrings.OpenAdminAsync(cs.ConnectionString, "pgmm node remove", ct).ConfigureAwait(false);
            return null;
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or System.Net.Sockets.SocketException)
        {
            return e.Message;
        }
    }

    /// <summary>Everything the node wrote until now is confirmed by every one of its links: applied and durable on every survivor.</summary>
    private async Task DrainAsync(TimeSpan timeout, CancellationToken ct)
    {
        var name = plan.Node.Name;
        ulong end;
        await using (var conn = await OpenAsync(plan.Node, ct).ConfigureAwait(false))
            end = await WalEndAsync(conn, ct).ConfigureAwait(false);
        Log.Setup(logger, $"node '{name}': waiting until every survivor has applied what '{name}' wrote up to {Lsn(end)} " +
                          $"(writes on '{name}' must have stopped; its worker must run)");
        await WaitConfirmedAsync(plan.Node, plan.Outgoing, end, timeout,
            $"Is the worker of '{name}' running (pgmm run --node {name})? pgmm status shows its links. Nothing was changed.", ct).ConfigureAwait(false);
    }

    /// <summary>Each survivor's links to the other survivors have passed what the survivor holds now (and so what it applied from the node).</summary>
    private async Task EchoDrainAsync(TimeSpan timeout, CancellationToken ct)
    {
        foreach (var s in plan.Survivors)
        {
            var links = plan.Remaining.Where(l => l.Source.Name == s.Name).ToList();
            ulong end;
            await using (var conn = await OpenAsync(s, ct).ConfigureAwait(false))
                end = await WalEndAsync(conn, ct).ConfigureAwait(false);
            await WaitConfirmedAsync(s, links, end, timeout,
                $"Is the worker of '{s.Name}' running (pgmm run --node {s.Name})? It must have passed what it received from '{plan.Node.Name}' before that node's origin is dropped.", ct)
                .ConfigureAwait(false);
        }
    }

    private async Task WaitConfirmedAsync(Configuration.NodeOptions node, IReadOnlyList<Link> links, ulong upTo, TimeSpan timeout, string hint, CancellationToken ct)
    {
        var started = _time.GetTimestamp();
        var lastSaid = started;
        while (true)
        {
            var behind = new List<string>();
            await using (var conn = await OpenAsync(node, ct).ConfigureAwait(false))
            await using (var cmd = new NpgsqlCommand(
                "SELECT n.slot, s.confirmed_flush_lsn FROM pg_catalog.unnest($1::text[]) n(slot) LEFT JOIN pg_replication_slots s ON s.slot_name = n.slot", conn))
            {
                cmd.Parameters.Add(new NpgsqlParameter { Value = links.Select(l => l.SlotName).ToArray() });
                await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
                while (await r.ReadAsync(ct).ConfigureAwait(false))
                {
                    // A slot already dropped (a removal run before that failed later) holds nothing to wait for.
                    if (r.IsDBNull(1)) continue;
                    var confirmed = (ulong)r.GetFieldValue<NpgsqlLogSequenceNumber>(1);
                    if (confirmed < upTo) behind.Add($"{links.Single(l => l.SlotName == r.GetString(0))} at {Lsn(confirmed)}");
                }
            }
            if (behind.Count == 0) return;
            if (_time.GetElapsedTime(started) > timeout)
                throw new RemovalFailedException($"links of '{node.Name}' did not confirm {Lsn(upTo)} within {timeout}: {string.Join(", ", behind)}. {hint}");
            if (_time.GetElapsedTime(lastSaid) > TimeSpan.FromSeconds(5))
            {
                Log.Setup(logger, $"still waiting for {string.Join(", ", behind)} to reach {Lsn(upTo)}");
                lastSaid = _time.GetTimestamp();
            }
            await Task.Delay(TimeSpan.FromMilliseconds(200), _time, ct).ConfigureAwait(false);
        }
    }

    private async Task DropSlotAsync(NpgsqlConnection conn, string node, string slot, bool recorded, CancellationToken ct)
    {
        // The walsender streaming from it belongs to a link being removed.
        await DropHeldAsync(
            () => ServerObjects.ExecAsync(conn,
                "SELECT pg_catalog.pg_terminate_backend(active_pid, 5000) FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL", ct, slot),
            () => ServerObjects.DropSlotAsync(conn, slot, recorded, ct), ct).ConfigureAwait(false);
        Log.Setup(logger, $"node '{node}': dropped slot {slot} (its WAL is released)");
    }

    private async Task DropOriginAsync(NpgsqlConnection conn, string node, string origin, string holder, CancellationToken ct)
    {
        // The apply session that holds it belongs to a link being removed: the application name tells it (TargetSession).
        await DropHeldAsync(
            () => ServerObjects.ExecAsync(conn, """
                SELECT pg_catalog.pg_terminate_backend(pid, 5000) FROM pg_catalog.pg_stat_activity
                WHERE application_name = $1 AND datname = pg_catalog.current_database() AND pid <> pg_catalog.pg_backend_pid()
                """, ct, holder),
            () => ServerObjects.DropOriginAsync(conn, origin, ct), ct).ConfigureAwait(false);
        Log.Setup(logger, $"node '{node}': dropped replication origin {origin}");
    }

    /// <summary>A running worker reconnects after its session is ended: end it and drop until the drop wins.</summary>
    private async Task DropHeldAsync(Func<Task> endHolder, Func<Task> drop, CancellationToken ct)
    {
        var started = _time.GetTimestamp();
        while (true)
        {
            await endHolder().ConfigureAwait(false);
            try
            {
                await drop().ConfigureAwait(false);
                return;
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.ObjectInUse && _time.GetElapsedTime(started) < DropPatience)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(100), _time, ct).ConfigureAwait(false);
            }
        }
    }

    private static async Task<long> CountParkedAsync(NpgsqlConnection conn, string source, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(
            "SELECT CASE WHEN pg_catalog.to_regclass('pgmm.dead_letter') IS NULL THEN 0 ELSE (SELECT pg_catalog.count(*) FROM pgmm.dead_letter WHERE source_node = $1) END", conn);
        cmd.Parameters.Add(new NpgsqlParameter { Value = source });
        return (long)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
    }

    private static async Task<ulong> WalEndAsync(NpgsqlConnection conn, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("SELECT pg_catalog.pg_current_wal_lsn()", conn);
        return (ulong)(NpgsqlLogSequenceNumber)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
    }

    private static Task<NpgsqlConnection> OpenAsync(Configuration.NodeOptions node, CancellationToken ct) =>
        ConnectionStrings.OpenAdminAsync(node.ConnectionString, "pgmm node remove", ct);

    private static string Lsn(ulong lsn) => new NpgsqlLogSequenceNumber(lsn).ToString();
}

/// <summary>The removal could not be done (a node out of reach, links that did not drain in time); the message says what was changed.</summary>
public sealed class RemovalFailedException(string message) : Exception(message);
