using PgMultiMaster.Configuration;

namespace PgMultiMaster.Setup;

/// <summary>What one node's catalog says about the sequences feeding keys: its number in the cluster (NULL before init numbered it) and its key sequences.</summary>
public sealed record NodeSequences(string Node, int? Number, IReadOnlyList<KeySequence> Keys);

/// <summary>
/// Judges the sequences that feed the keys of replicated tables against <c>PgMultiMaster:Sequences</c>, without a
/// database. Problems stop <c>init</c> (nothing it could do would make the keys safe); warnings say what is at risk
/// or what <c>init</c> will change.
/// </summary>
public static class SequenceCheck
{
    /// <summary>The largest snowflake state: 41 bits of milliseconds and 12 of counter.</summary>
    public const long SnowflakeStateMax = (1L << 53) - 1;

    private const string Section = PgMultiMasterOptions.SectionName + ":Sequences";

    public static (List<string> Problems, List<string> Warnings) Run(SequenceOptions options, IReadOnlyList<NodeSequences> nodes)
    {
        var problems = new List<string>();
        var warnings = new List<string>();
        var strategy = options.Chosen();
        var m = options.MaxNodes;
        if (strategy == SequenceStrategy.Interleave)
            foreach (var n in nodes.Where(n => n.Number >= m))
                problems.Add($"node '{n.Node}' is node number {n.Number}, but {Section}:MaxNodes is {m}: raise MaxNodes above {n.Number}.");

        foreach (var group in nodes.SelectMany(n => n.Keys.Select(k => (n.Node, n.Number, Key: k))).GroupBy(x => x.Key.Key).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var first = group.First().Key;
            switch (strategy)
            {
                case SequenceStrategy.None:
                    warnings.Add(first.Source == KeySource.NextId
                        ? $"{group.Key}: pgmm.next_id('{first.QualifiedSequence}') needs node numbers; {Section}:Strategy is None: set it to Snowflake and run pgmm init."
                        : $"{group.Key}: sequence {first.QualifiedSequence} hands out the same ids on every node; {Section}:Strategy is None.");
                    break;
                case SequenceStrategy.Interleave:
                    Interleave(group.Key, group.ToList(), m, problems, warnings);
                    break;
                case SequenceStrategy.Snowflake:
                    Snowflake(group.Key, group.ToList(), problems, warnings);
                    break;
            }
        }
        return (problems, warnings);
    }

    /// <summary>The highest value any node's sequence has handed out or any node's column holds.</summary>
    public static long Highest(IEnumerable<KeySequence> keys) => keys.Max(k => Math.Max(k.LastValue, k.MaxKey ?? 0));

    private static void Interleave(string key, List<(string Node, int? Number, KeySequence Key)> nodes, int m, List<string> problems, List<string> warnings)
    {
        if (nodes.Any(n => n.Key.Source == KeySource.NextId))
            return; // pgmm.next_id puts the node number in every id already
        foreach (var (node, number, k) in nodes)
        {
            var seq = $"node '{node}': {key}: sequence {k.QualifiedSequence}";
            if (!k.IntegerKey)
                warnings.Add($"{seq} feeds a {k.ColumnType} column; only integer keys are interleaved, so its ids may collide.");
            else if (k.Increment < 0)
                problems.Add($"{seq} counts down (INCREMENT {k.Increment}); only ascending sequences are interleaved: make it ascend, or choose {Section}:Strategy Snowflake or None.");
            else if (number is { } num && IdSpace.IsInterleaved(k.Increment, k.Next, num, m))
                continue;
            else if (!k.Owned)
                problems.Add($"{seq} is owned by another role; pgmm's role needs its owner's rights to interleave it (GRANT the owner's role to it, as for the tables).");
            else if (number is { } n && IdSpace.InterleavedStart(Highest(nodes.Select(x => x.Key)), n, m, k.Ceiling) is null)
                problems.Add($"{seq}: interleaving it would start above {k.Ceiling}, the most its {k.ColumnType} column or its MAXVALUE allows " +
                             $"(ids already reach {Highest(nodes.Select(x => x.Key))}): widen the column and the sequence to bigint.");
            else
                warnings.Add($"{seq} is not interleaved yet: pgmm init restarts it above every id handed out, INCREMENT BY {m}.");
        }
    }

    private static void Snowflake(string key, List<(string Node, int? Number, KeySequence Key)> nodes, List<string> problems, List<string> warnings)
    {
        var first = nodes[0].Key;
        if (nodes.All(n => n.Key.Source != KeySource.NextId))
        {
            var how = first.Source == KeySource.Identity ? "is an identity column of" : "takes nextval of";
            var fix = first.Source == KeySource.Identity ? " (drop the identity first: ALTER COLUMN … DROP IDENTITY, then a sequence of your own)" : "";
            warnings.Add($"{key} {how} sequence {first.QualifiedSequence}, which hands out the same ids on every node: with {Section}:Strategy Snowflake " +
                         $"set its DEFAULT to pgmm.next_id('{first.QualifiedSequence}'){fix}.");
            return;
        }
        foreach (var (node, number, k) in nodes)
        {
            var seq = $"node '{node}': {key}";
            if (k.Source != KeySource.NextId)
                warnings.Add($"{seq} does not use pgmm.next_id on this node (it does on others): set the same DEFAULT on every node.");
            else if (k.ColumnType != "bigint")
                problems.Add($"{seq} is {k.ColumnType}; pgmm.next_id returns 64-bit ids: make the column bigint.");
            else if (!IsSnowflakeReady(k))
            {
                if (!k.Owned)
                    problems.Add($"{seq}: sequence {k.QualifiedSequence} is owned by another role; pgmm's role needs its owner's rights to make it count by 1 in 64 bits.");
                else
                    warnings.Add($"{seq}: sequence {k.QualifiedSequence} is not ready for pgmm.next_id (it must count by 1 in 64 bits without CYCLE): pgmm init changes it.");
            }
            else if (number is null)
                warnings.Add($"{seq}: node '{node}' has no node number yet: pgmm init gives it one.");
        }
    }

    /// <summary>The sequence can hold every snowflake state and hands out each once.</summary>
    public static bool IsSnowflakeReady(KeySequence k) => k.Increment == 1 && !k.Cycle && k.MaxValue >= SnowflakeStateMax && k.SequenceType == "bigint";
}
