namespace PgMultiMaster.Configuration;

/// <summary>How conflicts are resolved: <c>PgMultiMaster:Conflicts</c>.</summary>
public sealed class ConflictOptions
{
    /// <summary>The cluster-wide rule.</summary>
    public ConflictRule Default { get; set; } = new() { Strategy = nameof(Strategy.LastWriterWins) };

    /// <summary>Rules per table (<c>schema.table</c>); a table rule's columns override it per column.</summary>
    public Dictionary<string, TableConflictRule> Tables { get; set; } = [];

    /// <summary>How long conflict-log rows are kept.</summary>
    public TimeSpan LogRetention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>
    /// Apply waits while a remote commit is this far ahead of the local clock: last-writer-wins compares
    /// commit timestamps, and a node whose clock runs ahead would otherwise win every conflict.
    /// </summary>
    public TimeSpan MaxClockSkew { get; set; } = TimeSpan.FromMilliseconds(300);

    /// <summary>How often the worker trims the conflict log and removes tombstones no change can still need.</summary>
    public TimeSpan HousekeepingInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>How often parked changes that may now succeed are retried automatically.</summary>
    public TimeSpan RetryInterval { get; set; } = TimeSpan.FromSeconds(5);
}

public class ConflictRule
{
    /// <summary>One of <see cref="Strategies"/>; on a table, unset means the default's rules apply.</summary>
    public string? Strategy { get; set; }

    /// <summary>For <c>NodePriority</c>: node names, the first wins.</summary>
    public List<string> Priority { get; set; } = [];

    /// <summary>For <c>Function</c>: <c>schema.name</c> of <c>f(local jsonb, remote jsonb, conflict_type text) returns jsonb</c>.</summary>
    public string? Function { get; set; }

    /// <summary>Strategy per conflict type (e.g. <c>"update_missing": "KeepLocal"</c>), overriding <see cref="Strategy"/>.</summary>
    public Dictionary<string, string> Types { get; set; } = [];

    public static IReadOnlyList<string> Strategies { get; } = Enum.GetNames<Strategy>();
}

public sealed class TableConflictRule : ConflictRule
{
    /// <summary>Strategy per column (e.g. <c>"balance": "Delta"</c>) for update conflicts.</summary>
    public Dictionary<string, string> Columns { get; set; } = [];
}
