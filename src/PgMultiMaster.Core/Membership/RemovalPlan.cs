using PgMultiMaster.Configuration;
using PgMultiMaster.Topology;

namespace PgMultiMaster.Membership;

/// <summary>
/// What <c>pgmm node remove NAME</c> touches, decided from the configuration alone: the links out of the node (their
/// slots live on it), the survivors' links toward it (their slots live on the survivors, its origin on every survivor)
/// and the links among the survivors, which must have passed what they received from the node before its origin goes.
/// </summary>
public sealed class RemovalPlan
{
    private RemovalPlan(ClusterTopology topology, NodeOptions node)
    {
        Topology = topology;
        Node = node;
        Survivors = topology.Options.Nodes.Where(n => n.Name != node.Name).ToList();
        Outgoing = topology.LinksFrom(node.Name);
        Incoming = Survivors.Select(s => topology.LinksFrom(s.Name).Single(l => l.Target.Name == node.Name)).ToList();
        Remaining = Survivors.SelectMany(s => topology.LinksFrom(s.Name).Where(l => l.Target.Name != node.Name)).ToList();
    }

    public ClusterTopology Topology { get; }

    /// <summary>The node to remove.</summary>
    public NodeOptions Node { get; }

    public IReadOnlyList<NodeOptions> Survivors { get; }

    /// <summary>Node → each survivor: drained first, then their slots (on the node) dropped.</summary>
    public IReadOnlyList<Link> Outgoing { get; }

    /// <summary>Each survivor → node: their slots (on the survivors) dropped without draining; what the node misses no longer matters.</summary>
    public IReadOnlyList<Link> Incoming { get; }

    /// <summary>Among the survivors: they keep running, and must have skipped as echo what they received from the node.</summary>
    public IReadOnlyList<Link> Remaining { get; }

    /// <summary>The origin every survivor records the node's changes under.</summary>
    public string Origin => Topology.OriginName(Node.Name);

    /// <summary>
    /// The plan for removing <paramref name="name"/>, or a refusal: a name the configuration does not list (with the
    /// nearest one), or a removal that would leave fewer than two nodes (a cluster of one replicates nothing, and the
    /// configuration would no longer be valid).
    /// </summary>
    public static RemovalPlan Create(ClusterTopology topology, string name)
    {
        var nodes = topology.Options.Nodes.Select(n => n.Name).ToList();
        var node = topology.Options.Nodes.FirstOrDefault(n => n.Name == name);
        if (node is null)
        {
            var nearest = Nearest.Of(name, nodes);
            var close = nearest is not null && Nearest.EditDistance(name.ToUpperInvariant(), nearest.ToUpperInvariant()) <= Math.Max(2, name.Length / 3);
            throw new RemovalRefusedException(
                $"no node named '{name}' in {PgMultiMasterOptions.SectionName}:Nodes" +
                (close ? $"; did you mean '{nearest}'?" : $" (one of {string.Join(", ", nodes)})."));
        }
        if (nodes.Count <= 2)
            throw new RemovalRefusedException(
                $"the cluster has {nodes.Count} nodes ({string.Join(", ", nodes)}), and it needs at least two: removing '{name}' would leave nothing to " +
                "replicate to. Add a node first, or stop replicating altogether with pgmm uninstall --yes.");
        return new RemovalPlan(topology, node);
    }
}

/// <summary>The removal cannot be planned: an unknown node, or too few nodes would be left. Nothing was changed.</summary>
public sealed class RemovalRefusedException(string message) : Exception(message);
