using System.Diagnostics.Metrics;
using PgMultiMaster.Decoding;
using PgMultiMaster.Replication;

namespace PgMultiMaster.Monitoring;

/// <summary>
/// The worker's metrics, as .NET instruments read when Prometheus scrapes <c>/metrics</c> (OpenTelemetry exporter).
/// Nearly all are observed from the links' status and counters, so the apply path pays nothing for them; only the
/// apply-duration histogram is recorded as it happens. Names and labels are documented in docs/monitoring.md ("Metrics").
/// </summary>
public sealed class PgmmMetrics
{
    public const string MeterName = "PgMultiMaster";

    public PgmmMetrics(IMeterFactory meters, StatusMonitor monitor)
    {
        var meter = meters.Create(MeterName);
        var links = monitor.LinkStatuses.ToList();

        meter.CreateObservableGauge("pgmm_link_lag_bytes", () => PerLink(links, s => s.LagBytes),
            description: "Source WAL not yet confirmed by the link (source WAL end minus the slot's confirmed position).");
        meter.CreateObservableGauge("pgmm_link_lag_seconds", () => PerLink(links, s => s.Lag?.TotalSeconds),
            description: "Source commit to target commit of the link's last transaction; grows while WAL waits.");
        meter.CreateObservableGauge("pgmm_link_wal_retained_bytes", () => PerLink(links, s => s.WalRetainedBytes),
            description: "WAL the link's replication slot holds on the source.");
        var maxRetained = monitor.Topology.Options.Monitoring.MaxWalRetainedBytes;
        meter.CreateObservableGauge("pgmm_link_wal_retained_limit_bytes", () => links.Select(s => new Measurement<long>(maxRetained, Tags(s))),
            description: "Monitoring:MaxWalRetainedBytes, per link: alert when pgmm_link_wal_retained_bytes exceeds it (same labels).");
        meter.CreateObservableGauge("pgmm_link_clock_skew_seconds", () => PerLink(links, s => (double?)s.ClockSkew.TotalSeconds),
            description: "Source commit timestamp minus the target's clock when the transaction arrived.");
        meter.CreateObservableGauge("pgmm_link_state", () => links.SelectMany(s =>
            {
                var current = s.StateName; // read once: exactly one state is 1 even while it changes
                return LinkStatus.StateNames.Select(state => new Measurement<int>(current == state ? 1 : 0, Tags(s, ("state", state))));
            }),
            description: "1 for the link's current state (starting, streaming, catching_up, holding, backing_off, down, slot_lost), 0 for the others.");
        meter.CreateObservableCounter("pgmm_link_retries", () => PerLink(links, s => (long?)s.Retries),
            description: "Times the link failed and reconnected.");
        meter.CreateObservableCounter("pgmm_transactions_applied", () => PerLink(links, s => (long?)s.TransactionsApplied),
            description: "Source transactions applied on the target.");
        meter.CreateObservableCounter("pgmm_transactions_echo_skipped", () => PerLink(links, s => (long?)s.TransactionsSkippedAsEcho),
            description: "Source transactions skipped because they arrived there by replication from this cluster.");
        meter.CreateObservableCounter("pgmm_rows_applied", () => links.SelectMany(s => s.Counters.RowsByTable().Select(r =>
                new Measurement<long>(r.Rows, Tags(s, ("table", r.Table), ("operation", Operation(r.Kind)))))),
            description: "Row changes committed on the target, by table and operation.");
        meter.CreateObservableCounter("pgmm_conflicts", () => links.SelectMany(s => s.Counters.ConflictsByKind().Select(c =>
                new Measurement<long>(c.Count, [new("node", s.Target), new("source", s.Source), new("table", c.Table), new("type", c.Type), new("resolution", c.Resolution)]))),
            description: "Conflicts resolved on node (the link's target), by source, table, type and resolution.");
        meter.CreateObservableGauge("pgmm_dead_letters", () => PerNode(monitor, monitor.DeadLetters),
            description: "Changes parked in the node's pgmm.dead_letter.");
        meter.CreateObservableGauge("pgmm_tombstones", () => PerNode(monitor, monitor.Tombstones),
            description: "Rows of the node's pgmm.tombstone (recently deleted keys), as estimated by the table statistics.");

        var duration = meter.CreateHistogram("pgmm_apply_duration_seconds", unit: null,
            description: "One round trip that commits transactions on the target.", tags: null,
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] });
        foreach (var s in links) s.Counters.AttachApplyDuration(duration, Tags(s));
    }

    private static string Operation(ChangeKind kind) => kind switch
    {
        ChangeKind.Insert => "insert",
        ChangeKind.Update => "update",
        _ => "delete",
    };

    private static KeyValuePair<string, object?>[] Tags(LinkStatus s, params (string Key, string Value)[] more) =>
        [new("source", s.Source), new("target", s.Target), .. more.Select(m => new KeyValuePair<string, object?>(m.Key, m.Value))];

    private static IEnumerable<Measurement<T>> PerLink<T>(List<LinkStatus> links, Func<LinkStatus, T?> value) where T : struct =>
        links.Select(s => (s, v: value(s))).Where(x => x.v is not null).Select(x => new Measurement<T>(x.v!.Value, Tags(x.s)));

    private static IEnumerable<Measurement<long>> PerNode(StatusMonitor monitor, long? value) =>
        value is { } v ? [new Measurement<long>(v, new KeyValuePair<string, object?>("node", monitor.Node))] : [];
}
