using PgMultiMaster.Configuration;

namespace PgMultiMaster.Topology;

/// <summary>One direction of replication: changes written on <see cref="Source"/> are applied to <see cref="Target"/>.</summary>
public sealed record Link(NodeOptions Source, NodeOptions Target, string SlotName, string OriginName)
{
    public override string ToString() => $"{Source.Name}->{Target.Name}";
}

/// <summary>Names of the server objects and the links of a full mesh.</summary>
public sealed class ClusterTopology(PgMultiMasterOptions options)
{
    public PgMultiMasterOptions Options { get; } = options;

    /// <summary>Publication of the tables that replicate every operation.</summary>
    public string Publication => Options.Cluster;

    /// <summary>Publication of insert-only tables: no key needed because updates and deletes are not published.</summary>
    public string InsertOnlyPublication => Options.Cluster + "_insert_only";

    public string SlotName(string source, string target) => $"{Options.Cluster}_{source}_{target}";

    /// <summary>The origin a target records for changes coming from <paramref name="source"/>.</summary>
    public string OriginName(string source) => $"{Options.Cluster}_{source}";

    /// <summary>The origin a copy into a node commits under (<c>init --seed-from</c>, <c>node add</c>): worker <paramref name="job"/>'s.</summary>
    public string CopyOriginName(int job) => $"{Options.Cluster}__copy{job}";

    /// <summary>
    /// Whether a transaction committed under <paramref name="origin"/> was written by this cluster (a link's apply, a
    /// copy, a repair) rather than by the application or by other replication. By prefix, not by the configured
    /// nodes: a worker started before a node joined must still recognize the new node's changes (docs/adr/0005).
    /// Node names start with a letter: pgmm's own origins, <c>{cluster}__copyN</c> and <c>{cluster}__repair</c>, are no node's.
    /// </summary>
    public bool IsClusterOrigin(string origin) => origin.StartsWith(Options.Cluster + "_", StringComparison.Ordinal);

    /// <summary>
    /// The origin <c>pgmm repair</c> writes under, on the node it repairs. Node names start with a letter, so no node's
    /// origin (<see cref="OriginName"/>) can be called that, and no running link holds it.
    /// </summary>
    public string RepairOriginName => $"{Options.Cluster}__repair";

    public NodeOptions NodeNamed(string name) =>
        Options.Nodes.FirstOrDefault(n => n.Name == name)
        ?? throw new ArgumentException($"No node named '{name}' in {PgMultiMasterOptions.SectionName}:Nodes.", nameof(name));

    /// <summary>The links a worker beside <paramref name="source"/> runs: one to every peer.</summary>
    public IReadOnlyList<Link> LinksFrom(string source)
    {
        var node = NodeNamed(source);
        return Options.Nodes.Where(n => n.Name != source)
            .Select(peer => new Link(node, peer, SlotName(source, peer.Name), OriginName(source)))
            .ToList();
    }

    public IReadOnlyList<Link> AllLinks() => Options.Nodes.SelectMany(n => LinksFrom(n.Name)).ToList();
}
