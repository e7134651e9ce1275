namespace PgMultiMaster.Diagnostics;

/// <summary>One version of a row on one node: a hash of its full text, the start of that text, and how many copies
/// (always 1 for a table with a key; a table without one may hold the same row several times).</summary>
public sealed record RowVersion(long Hash, string Text, long Copies = 1);

/// <summary>How the nodes disagree about one key.</summary>
public enum DifferenceKind
{
    /// <summary>Some nodes lack the row; the nodes that have it agree.</summary>
    Missing,
    /// <summary>Every node has the row, not all the same.</summary>
    Differs,
    /// <summary>Some nodes lack the row and the others disagree about it.</summary>
    MissingAndDiffers,
}

/// <summary>One key whose row is not the same on every node: what each node has (null: nothing).</summary>
public sealed record KeyDifference(RowKey Key, IReadOnlyList<RowVersion?> PerNode)
{
    public DifferenceKind Kind
    {
        get
        {
            var present = PerNode.Where(v => v is not null).Select(v => (v!.Hash, v.Copies)).Distinct().Count();
            if (PerNode.All(v => v is not null)) return DifferenceKind.Differs;
            return present <= 1 ? DifferenceKind.Missing : DifferenceKind.MissingAndDiffers;
        }
    }

    /// <summary>
    /// The keys whose rows differ among <paramref name="perNode"/> (one map per node, in node order), in the order
    /// the nodes list them: the first node's keys first.
    /// </summary>
    public static IReadOnlyList<KeyDifference> Compare(IReadOnlyList<IReadOnlyDictionary<RowKey, RowVersion>> perNode)
    {
        var seen = new HashSet<RowKey>();
        var differences = new List<KeyDifference>();
        foreach (var node in perNode)
            foreach (var key in node.Keys)
            {
                if (!seen.Add(key)) continue;
                var versions = perNode.Select(n => n.GetValueOrDefault(key)).ToList();
                var first = versions[0];
                if (versions.All(v => v is not null && v.Hash == first!.Hash && v.Copies == first.Copies)) continue;
                differences.Add(new KeyDifference(key, versions));
            }
        return differences;
    }
}
