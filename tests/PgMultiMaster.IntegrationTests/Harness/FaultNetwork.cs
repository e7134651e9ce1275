namespace PgMultiMaster.IntegrationTests.Harness;

/// <summary>
/// A <see cref="FaultProxy"/> between every worker and every server of a mesh: the worker beside <c>east</c> reaches
/// <c>west</c> through <c>this["east", "west"]</c>, and its own node (its replication streams) through
/// <c>this["east", "east"]</c>. Workers started after <see cref="Route"/> get the proxies' addresses; the harness's own
/// connections go direct.
/// </summary>
public sealed class FaultNetwork : IAsyncDisposable
{
    private readonly Dictionary<(string Worker, string Server), FaultProxy> _proxies = [];

    private FaultNetwork(Mesh mesh)
    {
        foreach (var worker in mesh.NodeNames)
            foreach (var server in mesh.NodeNames)
                _proxies[(worker, server)] = new FaultProxy($"{worker}->{server}", mesh.Node(server).ConnectionString);
    }

    /// <summary>Puts a proxy between every worker of <paramref name="mesh"/> and every server.</summary>
    public static FaultNetwork Route(Mesh mesh)
    {
        var network = new FaultNetwork(mesh);
        mesh.WorkerConnectionString = (worker, node) => network[worker, node.Name].Route(node.ConnectionString);
        return network;
    }

    public FaultProxy this[string worker, string server] => _proxies[(worker, server)];

    public IReadOnlyCollection<FaultProxy> Proxies => _proxies.Values;

    /// <summary>Faults injected so far, per kind, over every proxy.</summary>
    public Dictionary<NetworkFault, int> Injected() =>
        Enum.GetValues<NetworkFault>().ToDictionary(f => f, f => _proxies.Values.Sum(p => p.Injected[f]));

    public void HealAll()
    {
        foreach (var p in _proxies.Values) p.Heal();
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var p in _proxies.Values) await p.DisposeAsync();
    }
}
