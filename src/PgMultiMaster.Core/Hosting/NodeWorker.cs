using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using PgMultiMaster.Configuration;
using PgMultiMaster.Monitoring;
using PgMultiMaster.Replication;
using PgMultiMaster.Topology;

namespace PgMultiMaster.Hosting;

/// <summary>
/// The worker beside one node: one independent <see cref="LinkRunner"/> per peer, so a down or slow peer
/// stalls only its own link.
/// </summary>
public sealed class NodeWorker : BackgroundService
{
    public NodeWorker(IOptions<PgMultiMasterOptions> options, ILoggerFactory loggers, TimeProvider time)
    {
        var topology = Topology = new ClusterTopology(options.Value);
        _housekeeping = new Housekeeping(topology, options.Value.Node!, loggers.CreateLogger("PgMultiMaster.Housekeeping"), time);
        Node = options.Value.Node!;
        Links = topology.LinksFrom(options.Value.Node!)
            .Select(l => new LinkRunner(l, topology, loggers.CreateLogger($"PgMultiMaster.Link.{l.Source.Name}-{l.Target.Name}"), time))
            .ToList();
        Monitor = new StatusMonitor(topology, Node, Links, loggers.CreateLogger("PgMultiMaster.Monitor"), time);
    }

    public string Node { get; }

    public ClusterTopology Topology { get; }

    public StatusMonitor Monitor { get; }

    private readonly Housekeeping _housekeeping;

    public IReadOnlyList<LinkRunner> Links { get; }

    /// <summary>Every link stopped for good: the process should exit with an error.</summary>
    public bool Failed { get; private set; }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var housekeeping = _housekeeping.RunAsync(stoppingToken);
        var monitor = Monitor.RunAsync(stoppingToken);
        await Task.WhenAll(Links.Select(l => l.RunAsync(stoppingToken))).ConfigureAwait(false);
        if (stoppingToken.IsCancellationRequested)
        {
            try { await Task.WhenAll(housekeeping, monitor).ConfigureAwait(false); }
            catch (OperationCanceledException) { /* stopping */ }
            return;
        }
        // Links only end by themselves when they cannot go on (authentication, rules that do not fit): a worker
        // with no link left must not look alive to its supervisor.
        Failed = true;
        throw new InvalidOperationException("every link of this worker has failed for good; see the errors above.");
    }
}
