namespace PgMultiMaster.Setup;

/// <summary>
/// The arithmetic of keeping the nodes' generated keys apart, without a database: node numbers, interleaved starts,
/// and the layout of a <c>pgmm.next_id</c> value.
/// </summary>
public static class IdSpace
{
    /// <summary>The epoch of <c>pgmm.next_id</c>: its 41 bits of milliseconds count from 2025-01-01 UTC.</summary>
    public static readonly DateTimeOffset SnowflakeEpoch = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>
    /// A number for every node in <paramref name="nodes"/> (in configuration order) that has none: a node keeps the one
    /// it has; a new one takes its 0-based position if no other node has it, else the smallest number no node has.
    /// Two nodes of the cluster never share one, so neither their interleaved sequences nor their snowflake ids meet.
    /// </summary>
    public static IReadOnlyDictionary<string, int> AssignNumbers(IReadOnlyList<string> nodes, IReadOnlyDictionary<string, int?> existing)
    {
        var result = new Dictionary<string, int>();
        var used = new HashSet<int>();
        foreach (var node in nodes)
            if (existing.GetValueOrDefault(node) is { } n && used.Add(n))
                result[node] = n;
        for (var i = 0; i < nodes.Count; i++)
        {
            if (result.ContainsKey(nodes[i])) continue;
            var n = used.Contains(i) ? Enumerable.Range(0, int.MaxValue).First(x => !used.Contains(x)) : i;
            used.Add(n);
            result[nodes[i]] = n;
        }
        return result;
    }

    /// <summary>
    /// A sequence counts in node <paramref name="number"/>'s lane: steps of <paramref name="maxNodes"/>, and its next value
    /// is <paramref name="number"/> modulo <paramref name="maxNodes"/>.
    /// </summary>
    public static bool IsInterleaved(long increment, long next, int number, int maxNodes) =>
        increment == maxNodes && ((next % maxNodes) + maxNodes) % maxNodes == number;

    /// <summary>
    /// Where node <paramref name="number"/>'s sequence restarts: the lane's first value above <paramref name="highest"/>
    /// (every value any node's sequence has handed out and every key any node holds), i.e. the smallest multiple of
    /// <paramref name="maxNodes"/> above it plus the number. NULL when that passes <paramref name="ceiling"/>.
    /// </summary>
    public static long? InterleavedStart(long highest, int number, int maxNodes, long ceiling)
    {
        var floor = Math.Max(highest, 0);
        var lanes = floor / maxNodes + 1;
        if (lanes > (ceiling - number) / maxNodes) return null;
        return lanes * maxNodes + number;
    }

    /// <summary>The snowflake state (milliseconds since the epoch &lt;&lt; 12) of a moment, as <c>pgmm.next_id</c> computes it.</summary>
    public static long SnowflakeState(DateTimeOffset at) => (long)Math.Floor((at - SnowflakeEpoch).TotalMilliseconds) << 12;

    /// <summary>A <c>pgmm.next_id</c> value taken apart: when (to the millisecond), the counter within it, and the node.</summary>
    public static (DateTimeOffset At, int Counter, int Node) SnowflakeParts(long id) =>
        (SnowflakeEpoch.AddMilliseconds(id >> 22), (int)((id >> 10) & 4095), (int)(id & 1023));
}
