using System.Diagnostics;
using PgMultiMaster.Diagnostics;
using PgMultiMaster.LocalServers;
using PgMultiMaster.Topology;

namespace PgMultiMaster.Cli.Commands.Demo;

/// <summary>
/// <c>demo --fail-node</c>'s outage: a third into the writing, one node's PostgreSQL server is stopped (fast shutdown:
/// its sessions end, committed data stays). It stays down for another third of the writing time, counted from when it
/// is down (a stop can take seconds), then it is started again, and the outage waits until every link has applied
/// everything written anywhere before the node came back. The links find their way back by themselves: they retry
/// with backoff (<c>Apply:MaxRetryDelay</c>, 2 s in this mode).
/// </summary>
internal sealed class NodeOutage(LocalPostgresServer server, ClusterTopology topology, IReadOnlyList<string> nodes, long[] committed, Stopwatch clock)
{
    private readonly TaskCompletionSource _over = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>What the outage showed.</summary>
    /// <param name="WrittenWhileDown">Transactions committed per node (in the order of the nodes) while the node was down.</param>
    /// <param name="CatchUp">From the node's start until every link had caught up.</param>
    public sealed record Result(long[] WrittenWhileDown, TimeSpan CatchUp);

    /// <summary>Completes when the node has been started again, or the outage failed: the writers go on until then.</summary>
    public Task Over => _over.Task;

    public async Task<Result> RunAsync(TimeSpan writing, CancellationToken ct)
    {
        long[] whileDown;
        try
        {
            await Task.Delay(writing / 3, ct);
            Say($"{server.Name}: stopping PostgreSQL (fast shutdown: its sessions end, committed data stays) ...");
            await server.StopAsync(ct);
            var down = Snapshot();
            Say($"{server.Name}: PostgreSQL stopped; the writers go on with " + string.Join(" and ", nodes.Where(n => n != server.Name)) + ".");

            await Task.Delay(writing / 3, ct);
            whileDown = [.. Snapshot().Zip(down, (now, then) => now - then)];
            await server.StartAsync(ct);
        }
        finally
        {
            _over.TrySetResult();
        }
        var started = clock.Elapsed;
        Say($"{server.Name}: PostgreSQL started again. Written while it was down: " +
            string.Join(", ", nodes.Select((n, i) => $"{n} {whileDown[i]}")) + " tx.");

        // A condition with a bound, not a pause: every link has confirmed all that its source had written by now.
        await CatchUp.WaitAsync(topology, TimeSpan.FromSeconds(120), ct);
        var catchUp = clock.Elapsed - started;
        Say($"{server.Name}: caught up in {catchUp.TotalSeconds:0.0} s: every link, those into and out of {server.Name} too, has applied " +
            "all that was written before it came back.");
        return new Result(whileDown, catchUp);
    }

    private long[] Snapshot() => [.. Enumerable.Range(0, committed.Length).Select(i => Interlocked.Read(ref committed[i]))];

    private void Say(string message) => Console.WriteLine($"  {clock.Elapsed.TotalSeconds,4:0.0}s  {message}");
}
