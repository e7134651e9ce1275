namespace PgMultiMaster.Configuration;

/// <summary>How the sequences that feed the keys of replicated tables are kept from handing out the same ids on two nodes.</summary>
public enum SequenceStrategy
{
    /// <summary>Sequences are left alone; <c>pgmm check</c> names every one at risk.</summary>
    None,

    /// <summary>Each node's sequence counts in steps of <see cref="SequenceOptions.MaxNodes"/> from its own offset (its node number).</summary>
    Interleave,

    /// <summary>Keys come from <c>pgmm.next_id('sequence')</c> in the column default: milliseconds, a counter and the node number in 64 bits.</summary>
    Snowflake,
}

/// <summary>The sequences that feed the keys of replicated tables: <c>PgMultiMaster:Sequences</c>, applied by <c>init</c> and <c>node add</c>.</summary>
public sealed class SequenceOptions
{
    /// <summary>Bits of a <c>pgmm.next_id</c> value that hold the node number: node numbers below 1024.</summary>
    public const int SnowflakeNodeBits = 10;

    /// <summary><c>None</c> (the default), <c>Interleave</c> or <c>Snowflake</c> (<see cref="SequenceStrategy"/>).</summary>
    public string Strategy { get; set; } = nameof(SequenceStrategy.None);

    /// <summary>The strategy, once <see cref="OptionsValidator"/> has accepted its name.</summary>
    public SequenceStrategy Chosen() =>
        Enum.GetValues<SequenceStrategy>().FirstOrDefault(s => string.Equals(s.ToString(), Strategy, StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// Interleave: the shared <c>INCREMENT</c>, so the most nodes the cluster can ever hold at once (leave headroom: changing it
    /// later moves every sequence past all ids handed out). 2 to 1024.
    /// </summary>
    public int MaxNodes { get; set; } = 16;
}
