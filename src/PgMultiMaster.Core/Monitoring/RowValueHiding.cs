using PgMultiMaster.Diagnostics;

namespace PgMultiMaster.Monitoring;

/// <summary>
/// Status without row values, for <c>Monitoring:ShowRowValues</c> false: whoever reaches <c>/api/*</c> then sees which
/// tables conflict, how and why, but not the data. Keys and rows become null, and texts that may quote values (a
/// PostgreSQL error stored as a dead letter's reason, a link's last error from an older worker) lose them.
/// </summary>
public static class RowValueHiding
{
    public const string Hidden = "hidden";

    public static ClusterStatus Hide(ClusterStatus status) =>
        status with { RowValues = Hidden, Nodes = status.Nodes.Select(Hide).ToList() };

    public static NodeStatus Hide(NodeStatus node) => node with
    {
        RowValues = Hidden,
        Error = ErrorText.Redact(node.Error),
        Links = node.Links.Select(l => l with { LastError = ErrorText.Redact(l.LastError) }).ToList(),
        RecentConflicts = node.RecentConflicts.Select(c => c with { Key = null, LocalRow = null, RemoteRow = null, KeptRow = null }).ToList(),
        RecentDeadLetters = node.RecentDeadLetters.Select(d => d with
        {
            Key = null, Row = null, Reason = ErrorText.Redact(d.Reason), LastError = ErrorText.Redact(d.LastError),
        }).ToList(),
    };
}
