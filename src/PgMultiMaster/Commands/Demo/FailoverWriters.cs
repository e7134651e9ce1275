using Npgsql;
using PgMultiMaster.Failures;

namespace PgMultiMaster.Cli.Commands.Demo;

/// <summary>
/// <c>demo --fail-node</c>'s application: writers that know no node, only one connection string naming all of them
/// (<see cref="MultiHostConnectionString"/>). Each transaction takes a new connection from the multi-host data source,
/// which Npgsql spreads over the nodes in turn. A transaction that fails because its node went away is tried once
/// more, on a new connection: Npgsql has marked the node that failed as down, so the retry goes to another node.
/// </summary>
internal sealed class FailoverWriters : IAsyncDisposable
{
    private readonly NpgsqlMultiHostDataSource _dataSource;
    private readonly IReadOnlyList<string> _nodes;
    private readonly Dictionary<int, int> _nodeByPort;
    private readonly long[] _committed;
    private long _retried;
    private long _retriedElsewhere;
    private long _lost;

    /// <param name="nodes">Each node's name and port (the demo's servers all listen on 127.0.0.1).</param>
    /// <param name="committed">Where the transactions committed are counted, per node, in the order of <paramref name="nodes"/>.</param>
    public FailoverWriters(string connectionString, IReadOnlyList<(string Name, int Port)> nodes, long[] committed)
    {
        _dataSource = new NpgsqlDataSourceBuilder(connectionString).BuildMultiHost();
        _nodes = nodes.Select(n => n.Name).ToList();
        _nodeByPort = nodes.Select((n, i) => (n.Port, i)).ToDictionary(p => p.Port, p => p.i);
        _committed = committed;
    }

    /// <summary>Transactions that failed on their node and then committed on another.</summary>
    public long Retried => Interlocked.Read(ref _retried);

    /// <summary>Of <see cref="Retried"/>, those whose retry committed on another node than the one the first attempt failed on.</summary>
    public long RetriedElsewhere => Interlocked.Read(ref _retriedElsewhere);

    /// <summary>Transactions that failed twice, and were given up (nothing of them counts as written).</summary>
    public long Lost => Interlocked.Read(ref _lost);

    /// <summary>The last failure of a transaction given up, to show why.</summary>
    public string? LastLoss { get; private set; }

    /// <summary>Runs <paramref name="writers"/> writers until <paramref name="ct"/> is cancelled.</summary>
    public Task RunAsync(int writers, CancellationToken ct) =>
        Task.WhenAll(Enumerable.Range(0, writers).Select(w => Task.Run(() => WriteAsync(new DemoWorkload(w), ct), CancellationToken.None)));

    private async Task WriteAsync(DemoWorkload workload, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
            await CommitAsync(workload);
    }

    private async Task CommitAsync(DemoWorkload workload)
    {
        int? failedOn = null;
        for (var attempt = 1; ; attempt++)
        {
            int? node = null;
            try
            {
                await using var conn = await _dataSource.OpenConnectionAsync(CancellationToken.None);
                node = _nodeByPort[conn.Port];
                await using var tx = await conn.BeginTransactionAsync(CancellationToken.None);
                await workload.WriteAsync(conn, _nodes[node.Value]);
                await tx.CommitAsync(CancellationToken.None);
                Interlocked.Increment(ref _committed[node.Value]);
                if (attempt > 1)
                {
                    Interlocked.Increment(ref _retried);
                    if (failedOn is { } failed && failed != node) Interlocked.Increment(ref _retriedElsewhere);
                }
                return;
            }
            // The node went away under the transaction (a fast shutdown ends its sessions with 57P01, then refuses
            // connections): a server error of class 57 or 08, or a broken connection. Npgsql marked that host down and
            // emptied its pool, so the next connection is made to another node. Tried once more only: an application
            // decides how often to retry; the demo shows that once is enough. A COMMIT whose reply was lost may have
            // committed after all; the retry then writes its rows under new keys (DemoWorkload), so nothing collides.
            catch (Exception e) when (FailureClassifier.Classify(e) == FailureKind.Transient)
            {
                failedOn = node;
                if (attempt == 1) continue;
                Interlocked.Increment(ref _lost);
                LastLoss = e.Message;
                return;
            }
        }
    }

    public ValueTask DisposeAsync() => _dataSource.DisposeAsync();
}
