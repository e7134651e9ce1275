using PgMultiMaster.Configuration;
using System.Text.Json;

namespace PgMultiMaster.Monitoring;

// The JSON of /api/status, /api/cluster and `pgmm status` (camelCase; see docs/monitoring-contract.md).

public sealed record ClusterStatus(string Cluster, DateTimeOffset GeneratedAt, string? ServedBy, IReadOnlyList<NodeStatus> Nodes)
{
    /// <summary>"shown", or "hidden" when the worker serves no row values (<c>Monitoring:ShowRowValues</c> false).</summary>
    public string RowValues { get; init; } = "shown";

    /// <summary><c>Monitoring:MaxWalRetainedBytes</c>: a link whose slot retains more is flagged (the dashboard marks it).</summary>
    public long? MaxWalRetainedBytes { get; init; }
}

public sealed record NodeStatus
{
    public required string Node { get; init; }
    /// <summary>"up" while the worker beside the node reports in; "down" when its report is stale or missing.</summary>
    public required string Worker { get; init; }
    public DateTimeOffset? WorkerSeenAt { get; init; }
    public DateTimeOffset? StartedAt { get; init; }
    public long? DeadLetters { get; init; }
    public long? Tombstones { get; init; }
    public bool Reachable { get; init; } = true;
    public string? Error { get; init; }
    public IReadOnlyList<LinkView> Links { get; init; } = [];
    public IReadOnlyList<ConflictView> RecentConflicts { get; init; } = [];
    public IReadOnlyList<DeadLetterView> RecentDeadLetters { get; init; } = [];
    public IReadOnlyList<HistoryPoint> History { get; init; } = [];
    /// <summary>"shown", or "hidden" when conflicts and dead letters come without their rows and keys.</summary>
    public string RowValues { get; init; } = "shown";
}

public sealed record LinkView(
    string Source, string Target, string State,
    long? LagBytes, double? LagSeconds, long? WalRetainedBytes, double? ClockSkewSeconds, string? ConfirmedLsn,
    long TransactionsApplied, long RowsApplied, long Conflicts, long Parked, long Retries,
    string? LastError, DateTimeOffset? LastErrorAt);

public sealed record ConflictView(
    long Id, DateTimeOffset At, string Table, string Type, string Source,
    JsonElement? Key, JsonElement? LocalRow, JsonElement? RemoteRow, JsonElement? KeptRow, string Rule, string Resolution);

public sealed record DeadLetterView(
    long Id, DateTimeOffset At, string Source, string Table, string Operation,
    JsonElement? Key, JsonElement? Row, string? ConflictType, string Reason, int Attempts, string? LastError);

/// <summary>Cumulative totals of a node's links at one moment.</summary>
public sealed record HistoryPoint(DateTimeOffset At, long Transactions, long Rows, long Conflicts);

/// <summary>What a worker publishes to its node's <c>pgmm.worker_status</c> row.</summary>
public sealed record WorkerReport(IReadOnlyList<LinkView> Links, IReadOnlyList<HistoryPoint> History);

public static class StatusJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web) { WriteIndented = false };
}
