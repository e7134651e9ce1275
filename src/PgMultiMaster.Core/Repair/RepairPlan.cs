using PgMultiMaster.Diagnostics;

namespace PgMultiMaster.Repair;

/// <summary>What repair does to one key on one node to make it match the source node.</summary>
public enum RepairAction
{
    /// <summary>The node lacks the row the source has.</summary>
    Insert,
    /// <summary>The node's row differs from the source's.</summary>
    Update,
    /// <summary>The node has a row the source lacks.</summary>
    Delete,
}

public static class RepairActionNames
{
    public static string Name(this RepairAction action) => action switch
    {
        RepairAction.Insert => "insert",
        RepairAction.Update => "update",
        RepairAction.Delete => "delete",
        _ => throw new ArgumentOutOfRangeException(nameof(action)),
    };
}

/// <summary>One change repair makes (or, under --dry-run, would make).</summary>
public sealed record RepairStep(string Node, RowKey Key, RepairAction Action);

/// <summary>From the row diff's differences to the changes that make every node match the source: decided without a database.</summary>
public static class RepairPlan
{
    /// <param name="nodes">The node names, in the order of each difference's <see cref="KeyDifference.PerNode"/>.</param>
    /// <param name="source">The node whose rows are right.</param>
    public static IReadOnlyList<RepairStep> For(IReadOnlyList<string> nodes, IReadOnlyList<KeyDifference> differences, string source)
    {
        var from = nodes.ToList().IndexOf(source);
        if (from < 0) throw new ArgumentException($"'{source}' is not one of the nodes ({string.Join(", ", nodes)}).", nameof(source));
        var steps = new List<RepairStep>();
        // Node by node, so each node's changes form one transaction in key order.
        for (var n = 0; n < nodes.Count; n++)
        {
            if (n == from) continue;
            foreach (var d in differences)
            {
                var (right, here) = (d.PerNode[from], d.PerNode[n]);
                RepairAction? action = (right, here) switch
                {
                    (null, null) => null,
                    (not null, null) => RepairAction.Insert,
                    (null, not null) => RepairAction.Delete,
                    _ when right!.Hash != here!.Hash => RepairAction.Update,
                    _ => null,
                };
                if (action is { } a) steps.Add(new RepairStep(nodes[n], d.Key, a));
            }
        }
        return steps;
    }
}
