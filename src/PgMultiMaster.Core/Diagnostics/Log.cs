using Microsoft.Extensions.Logging;

namespace PgMultiMaster.Diagnostics;

/// <summary>All log messages. Event ids: 1xx streaming, 2xx apply, 3xx setup, 4xx worker host (housekeeping, status, endpoints), 51x key sequences, 52x schema changes.</summary>
internal static partial class Log
{
    [LoggerMessage(100, LogLevel.Information, "Link {Link}: streaming slot {Slot} from {Lsn}")]
    public static partial void LinkStreaming(ILogger logger, string link, string slot, string lsn);

    [LoggerMessage(101, LogLevel.Warning, "Link {Link}: {Error}; retrying in {Delay}")]
    public static partial void LinkFailed(ILogger logger, string link, string error, TimeSpan delay, Exception? exception);

    [LoggerMessage(102, LogLevel.Critical, "Link {Link}: not retrying until the configuration is fixed: {Error}")]
    public static partial void LinkAuthFailed(ILogger logger, string link, string error);

    [LoggerMessage(103, LogLevel.Information, "Link {Link}: stopped")]
    public static partial void LinkStopped(ILogger logger, string link);

    [LoggerMessage(104, LogLevel.Critical, "Link {Link}: stopped ({State}) until an operator acts: {Error}")]
    public static partial void LinkHalted(ILogger logger, string link, string state, string error);

    [LoggerMessage(105, LogLevel.Warning, "Link {Link}: ended its previous session on node '{Node}' (process {Pid}), which the server still kept after the connection was given up")]
    public static partial void AbandonedSessionEnded(ILogger logger, string link, string node, int pid);

    [LoggerMessage(106, LogLevel.Warning, "Link {Link}: could not end its previous session on node '{Node}' (process {Pid}): {Error}; the server ends it when it notices the connection is gone")]
    public static partial void AbandonedSessionKept(ILogger logger, string link, string node, int pid, string error);

    [LoggerMessage(200, LogLevel.Warning, "Link {Link}: no right to SET session_replication_role on node '{Node}'; applying with triggers and foreign keys active")]
    public static partial void ReplicaRoleDenied(ILogger logger, string link, string node);

    [LoggerMessage(201, LogLevel.Debug, "Link {Link}: applied transaction ending at {Lsn} ({Rows} rows so far)")]
    public static partial void TransactionApplied(ILogger logger, string link, string lsn, long rows);

    [LoggerMessage(202, LogLevel.Warning, "Link {Link}: holding apply: the remote commit is {Ahead} ahead of the local clock (bound {Bound})")]
    public static partial void ClockSkewHold(ILogger logger, string link, TimeSpan ahead, TimeSpan bound);

    [LoggerMessage(300, LogLevel.Information, "{Message}")]
    public static partial void Setup(ILogger logger, string message);

    [LoggerMessage(510, LogLevel.Information, "Node '{Node}': {Message}")]
    public static partial void Sequences(ILogger logger, string node, string message);

    [LoggerMessage(511, LogLevel.Warning, "{Message}")]
    public static partial void SequenceWarning(ILogger logger, string message);

    [LoggerMessage(400, LogLevel.Warning, "Housekeeping on node '{Node}' failed: {Error}")]
    public static partial void HousekeepingFailed(ILogger logger, string node, string error);

    [LoggerMessage(401, LogLevel.Debug, "Node '{Node}': removed {Count} tombstones older than {Watermark}")]
    public static partial void TombstonesRemoved(ILogger logger, string node, int count, DateTime watermark);

    [LoggerMessage(402, LogLevel.Debug, "Status poll on node '{Node}' failed: {Error}")]
    public static partial void StatusPollFailed(ILogger logger, string node, string error);

    [LoggerMessage(403, LogLevel.Warning, "Status poll on node '{Node}' failed")]
    public static partial void StatusPollFailedUnexpectedly(ILogger logger, string node, Exception exception);

    [LoggerMessage(404, LogLevel.Warning, "Node '{Node}' has no pgmm.worker_status table: run `pgmm init` to upgrade its catalog; `pgmm status` will show this worker as down.")]
    public static partial void NoWorkerStatusTable(ILogger logger, string node);

    [LoggerMessage(405, LogLevel.Information, "Serving metrics, status and the dashboard on {Addresses}")]
    public static partial void Serving(ILogger logger, string addresses);

    [LoggerMessage(520, LogLevel.Information, "Link {Link}: applied the schema change {Command}")]
    public static partial void DdlApplied(ILogger logger, string link, string command);

    [LoggerMessage(521, LogLevel.Warning, "Link {Link}: the schema change {Command} was already applied on the target ({Error}): the table is as the source left it, so it is skipped")]
    public static partial void DdlAlreadyApplied(ILogger logger, string link, string command, string error);

    [LoggerMessage(522, LogLevel.Warning, "Node '{Node}': {Message}")]
    public static partial void DdlSetupWarning(ILogger logger, string node, string message);
}
