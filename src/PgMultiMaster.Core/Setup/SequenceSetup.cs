using Microsoft.Extensions.Logging;
using Npgsql;
using PgMultiMaster.Configuration;
using PgMultiMaster.Diagnostics;
using PgMultiMaster.Sql;
using PgMultiMaster.Topology;

namespace PgMultiMaster.Setup;

/// <summary>
/// Part of <c>pgmm init</c> and <c>pgmm node add</c>: numbers the nodes, then sets up the sequences that feed the keys
/// of replicated tables as <c>PgMultiMaster:Sequences</c> says (<see cref="SequenceCheck"/> judges them). Idempotent:
/// a node whose sequence is right is left alone.
/// </summary>
public sealed class SequenceSetup(ClusterTopology topology, ILogger logger)
{
    /// <summary>How long init waits for the application's transactions that hold a sequence (nextval) to end.</summary>
    public static readonly TimeSpan LockTimeout = TimeSpan.FromSeconds(10);

    /// <summary>The advisory lock space of <c>pgmm.next_id</c> (sql/010_sequences.sql).</summary>
    private const int NextIdLockSpace = 1886219520;

    private SequenceOptions Options => topology.Options.Sequences;

    /// <summary>Every node's number and key sequences, as <see cref="SequenceCheck"/> reads them.</summary>
    public static async Task<IReadOnlyList<NodeSequences>> ReadAsync(ClusterTopology topology, IReadOnlyList<ReplicatedTable> tables, string application, CancellationToken ct)
    {
        var result = new List<NodeSequences>();
        foreach (var node in topology.Options.Nodes)
        {
            await using var conn = await ConnectionStrings.OpenAdminAsync(node.ConnectionString, application, ct).ConfigureAwait(false);
            result.Add(new NodeSequences(node.Name, await ReadNumberAsync(conn, topology.Options.Cluster, ct).ConfigureAwait(false),
                await KeySequence.ReadAsync(conn, tables, ct).ConfigureAwait(false)));
        }
        return result;
    }

    public async Task ApplyAsync(IReadOnlyList<ReplicatedTable> tables, CancellationToken ct)
    {
        await NumberNodesAsync(ct).ConfigureAwait(false);
        var strategy = Options.Chosen();
        var nodes = await ReadAsync(topology, tables, "pgmm init", ct).ConfigureAwait(false);
        foreach (var warning in SequenceCheck.Run(Options, nodes).Warnings.Where(w => strategy == SequenceStrategy.None || !w.Contains("pgmm init", StringComparison.Ordinal)))
            Log.SequenceWarning(logger, warning);
        if (strategy == SequenceStrategy.None) return;

        foreach (var group in nodes.SelectMany(n => n.Keys.Select(k => (n.Node, Number: n.Number!.Value, Key: k))).GroupBy(x => x.Key.Key))
        {
            var keys = group.ToList();
            if (strategy == SequenceStrategy.Interleave && keys.All(k => k.Key.Source != KeySource.NextId && k.Key.IntegerKey && k.Key.Increment > 0))
                await InterleaveAsync(keys, ct).ConfigureAwait(false);
            else if (strategy == SequenceStrategy.Snowflake && keys.Any(k => k.Key.Source == KeySource.NextId))
                await SnowflakeAsync(keys.Where(k => k.Key.Source == KeySource.NextId && k.Key.ColumnType == "bigint").ToList(), ct).ConfigureAwait(false);
        }
    }

    /// <summary>The node's number in <c>pgmm.node</c> (NULL before version 10 or before it was numbered).</summary>
    public static async Task<int?> ReadNumberAsync(NpgsqlConnection conn, string cluster, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(
            "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = pg_catalog.to_regclass('pgmm.node') AND attname = 'number' AND NOT attisdropped)", conn);
        if (await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false) is not true) return null;
        await using var read = new NpgsqlCommand("SELECT number FROM pgmm.node WHERE cluster = $1", conn);
        read.Parameters.Add(new NpgsqlParameter { Value = cluster });
        return await read.ExecuteScalarAsync(ct).ConfigureAwait(false) is int n ? n : null;
    }

    private async Task NumberNodesAsync(CancellationToken ct)
    {
        var cluster = topology.Options.Cluster;
        var existing = new Dictionary<string, int?>();
        foreach (var node in topology.Options.Nodes)
        {
            await using var conn = await ConnectionStrings.OpenAdminAsync(node.ConnectionString, "pgmm init", ct).ConfigureAwait(false);
            existing[node.Name] = await ReadNumberAsync(conn, cluster, ct).ConfigureAwait(false);
        }
        var numbers = IdSpace.AssignNumbers(topology.Options.Nodes.Select(n => n.Name).ToList(), existing);
        foreach (var node in topology.Options.Nodes.Where(n => existing[n.Name] != numbers[n.Name]))
        {
            await using var conn = await ConnectionStrings.OpenAdminAsync(node.ConnectionString, "pgmm init", ct).ConfigureAwait(false);
            await ServerObjects.ExecAsync(conn, "UPDATE pgmm.node SET number = $2 WHERE cluster = $1", ct, cluster, numbers[node.Name]).ConfigureAwait(false);
            Log.Sequences(logger, node.Name, $"node number {numbers[node.Name]} in cluster '{cluster}'");
        }
    }

    /// <summary>
    /// The nodes whose sequence is not in its lane restart in it above every id any node has handed out or holds. Each
    /// such sequence is locked first (ALTER SEQUENCE blocks nextval until commit) on all of them at once, so none of
    /// them hands out another plain value between the reading of the highest id and the restart.
    /// </summary>
    private async Task InterleaveAsync(List<(string Node, int Number, KeySequence Key)> keys, CancellationToken ct)
    {
        var m = Options.MaxNodes;
        var moving = keys.Where(k => !IdSpace.IsInterleaved(k.Key.Increment, k.Key.Next, k.Number, m)).ToList();
        if (moving.Count == 0) return;
        var locked = new Dictionary<string, NpgsqlConnection>();
        try
        {
            foreach (var (node, _, k) in moving)
            {
                var conn = await ConnectionStrings.OpenAdminAsync(topology.NodeNamed(node).ConnectionString, "pgmm init", ct).ConfigureAwait(false);
                locked[node] = conn;
                await ServerObjects.ExecAsync(conn, $"BEGIN; SET LOCAL lock_timeout = '{(int)LockTimeout.TotalMilliseconds}ms'", ct).ConfigureAwait(false);
                try
                {
                    await ServerObjects.ExecAsync(conn, $"ALTER SEQUENCE {k.QuotedSequence} INCREMENT BY {m} NO CYCLE", ct).ConfigureAwait(false);
                }
                catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.LockNotAvailable)
                {
                    throw new PrerequisiteException([$"node '{node}': {k.Key}: sequence {k.QualifiedSequence} stayed in use by an open transaction for " +
                                                     $"{LockTimeout.TotalSeconds:0} s (each transaction that took a value holds it until it ends); it was left as it was on every node. Run pgmm init again."]);
                }
            }
            var fresh = new List<KeySequence>();
            foreach (var (node, _, k) in keys)
            {
                if (locked.TryGetValue(node, out var conn))
                    fresh.Add(await KeySequence.WithStateAsync(conn, k, ct).ConfigureAwait(false));
                else
                {
                    await using var other = await ConnectionStrings.OpenAdminAsync(topology.NodeNamed(node).ConnectionString, "pgmm init", ct).ConfigureAwait(false);
                    fresh.Add(await KeySequence.WithStateAsync(other, k, ct).ConfigureAwait(false));
                }
            }
            var highest = SequenceCheck.Highest(fresh);
            foreach (var (node, number, k) in moving)
            {
                var start = IdSpace.InterleavedStart(highest, number, m, k.Ceiling)
                    ?? throw new PrerequisiteException([$"node '{node}': {k.Key}: interleaving sequence {k.QualifiedSequence} would start above {k.Ceiling} " +
                                                        $"(ids already reach {highest}); it was left as it was on every node: widen the column and the sequence to bigint."]);
                // START too: a TRUNCATE … RESTART IDENTITY (replicated to every node) goes back to the node's lane, not to 1.
                await ServerObjects.ExecAsync(locked[node], $"ALTER SEQUENCE {k.QuotedSequence} START WITH {start} RESTART WITH {start}", ct).ConfigureAwait(false);
                Log.Sequences(logger, node, $"{k.Key}: sequence {k.QualifiedSequence} restarts at {start}, INCREMENT BY {m} (ids handed out reach {highest})");
            }
            foreach (var conn in locked.Values)
                await ServerObjects.ExecAsync(conn, "COMMIT", ct).ConfigureAwait(false);
        }
        finally
        {
            foreach (var conn in locked.Values)
                await conn.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Each node's sequence behind <c>pgmm.next_id</c> counts by 1 in 64 bits, and above the ids that already carry the
    /// node's number (a number once another node's). The move up takes <c>pgmm.next_id</c>'s exclusive lock, so it never
    /// moves the sequence below a value a caller was given meanwhile.
    /// </summary>
    private async Task SnowflakeAsync(List<(string Node, int Number, KeySequence Key)> keys, CancellationToken ct)
    {
        var states = new Dictionary<int, long>();
        foreach (var (node, _, k) in keys)
        {
            await using var conn = await ConnectionStrings.OpenAdminAsync(topology.NodeNamed(node).ConnectionString, "pgmm init", ct).ConfigureAwait(false);
            foreach (var (number, state) in await KeySequence.SnowflakeStatesAsync(conn, k, ct).ConfigureAwait(false))
                states[number] = Math.Max(states.GetValueOrDefault(number), state);
        }
        foreach (var (node, number, k) in keys)
        {
            await using var conn = await ConnectionStrings.OpenAdminAsync(topology.NodeNamed(node).ConnectionString, "pgmm init", ct).ConfigureAwait(false);
            if (!SequenceCheck.IsSnowflakeReady(k))
            {
                await ServerObjects.ExecAsync(conn, $"ALTER SEQUENCE {k.QuotedSequence} AS bigint INCREMENT BY 1 NO MAXVALUE NO CYCLE", ct).ConfigureAwait(false);
                Log.Sequences(logger, node, $"{k.Key}: sequence {k.QualifiedSequence} now counts by 1 in 64 bits for pgmm.next_id");
            }
            if (states.TryGetValue(number, out var above))
            {
                // A session lock on pgmm's own connection: closing it gives the lock back whatever happens.
                await ServerObjects.ExecAsync(conn, $"SELECT pg_catalog.pg_advisory_lock({NextIdLockSpace}, (oid::bigint - CASE WHEN oid::bigint >= 2147483648 THEN 4294967296 ELSE 0 END)::int) " +
                                                    "FROM pg_class WHERE oid = pg_catalog.to_regclass($1)", ct, k.QuotedSequence).ConfigureAwait(false);
                await ServerObjects.ExecAsync(conn, $"SELECT pg_catalog.setval($1::regclass, $2) FROM {k.QuotedSequence} WHERE last_value < $2", ct, k.QuotedSequence, above).ConfigureAwait(false);
                await ServerObjects.ExecAsync(conn, "SELECT pg_catalog.pg_advisory_unlock_all()", ct).ConfigureAwait(false);
            }
        }
    }
}
