using PgMultiMaster.Conflicts;

namespace PgMultiMaster.Apply;

/// <summary>What every statement of the transaction being applied needs to know about where it comes from.</summary>
internal sealed class ApplyContext
{
    public required string SourceNode { get; init; }
    public required string OriginName { get; init; }
    /// <summary>The source's replication origin id on the target: rows it last wrote carry this roident.</summary>
    public required uint SourceRoident { get; init; }
    /// <summary>Node of each replication origin id on the target (0 = written locally on the target).</summary>
    public required IReadOnlyDictionary<uint, string> NodeByRoident { get; init; }

    public DateTime CommitTimestamp { get; set; }
    public ulong CommitLsn { get; set; }

    public RowVersion RemoteVersion => new(CommitTimestamp, SourceNode);

    public string NodeOf(uint roident) =>
        NodeByRoident.TryGetValue(roident, out var node) ? node : $"origin {roident}";
}
