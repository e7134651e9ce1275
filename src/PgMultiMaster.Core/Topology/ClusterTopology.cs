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

    /// <summary>
    /// The origin <c>pgmm repair</c> writes under, on the node it repairs. Node names start with a letter, so no node's
    /// origin (<see cref="OriginName"/>) can be called that, and no running link holds it.
    /// </summary>
    public string RepairOriginName => $"{Options.Cluster}__repair";

    /// <summary>
    /// The origins whose transactions a link skips as echo: those its peers' links apply under (each node sends its own
    /// writes to every peer itself), and repair's (which wrote on every node that needed it).
    /// </summary>
    public IReadOnlySet<string> EchoOrigins => Options.Nodes.Select(n => OriginName(n.Name)).Append(RepairOriginName).ToHashSet(StringComparer.Ordinal);

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
