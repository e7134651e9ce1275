using System.Diagnostics;
using PgMultiMaster.Diagnostics;
using PgMultiMaster.LocalServers;
using PgMultiMaster.Topology;

namespace PgMultiMaster.Cli.Commands.Demo;

/// <summary>
/// <c>demo --fail-node</c>'s outage: a third into the writing, one node's PostgreSQL server is stopped (fast shutdown:
/// its sessions end, committed data stays); at two thirds it is started again, and the outage waits until every link
/// into and out of it has applied everything written anywhere before it came back. The links find their way back by
/// themselves: they retry with backoff (<c>Apply:MaxRetryDelay</c>, 2 s in this mode).
/// </summary>
internal sealed class NodeOutage(LocalPostgresServer server, ClusterTopology topology, IReadOnlyList<string> nodes, long[] committed, Stopwatch clock)
{
    /// <summary>What the outage showed.</summary>
    /// <param name="WrittenWhileDown">Transactions committed per node (in the order of the nodes) while the node was down.</param>
    /// <param name="CatchUp">From the node's start until its links had caught up.</param>
    public sealed record Result(long[] WrittenWhileDown, TimeSpan CatchUp);

    public async Task<Result> RunAsync(TimeSpan writing, CancellationToken ct)
    {
        await Task.Delay(writing / 3, ct);
        Say($"{server.Name}: stopping PostgreSQL (fast shutdown: its sessions end, committed data stays) ...");
        await server.StopAsync(ct);
        var down = Snapshot();
        Say($"{server.Name}: PostgreSQL stopped; the writers go on with " +
            string.Join(" and ", nodes.Where(n => n != server.Name)) + ".");

        var remaining = writing * 2 / 3 - clock.Elapsed;
        if (remaining > TimeSpan.Zero) await Task.Delay(remaining, ct);
        var whileDown = Snapshot().Zip(down, (now, then) => now - then).ToArray();
        await server.StartAsync(ct);
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

    private long[] Snapshot() => Enumerable.Range(0, committed.Length).Select(i => Interlocked.Read(ref committed[i])).ToArray();

    private void Say(string message) => Console.WriteLine($"  {clock.Elapsed.TotalSeconds,4:0.0}s  {message}");
}
