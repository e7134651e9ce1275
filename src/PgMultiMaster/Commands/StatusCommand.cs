using System.Globalization;
using System.Text.Json;
using PgMultiMaster.Monitoring;
using PgMultiMaster.Topology;

namespace PgMultiMaster.Cli.Commands;

/// <summary>
/// <c>pgmm status</c>: every node's worker and links, read from the nodes themselves (the reports workers publish
/// there, and the slots), so it works from anywhere and tells a stopped worker. Exit 1 when a link is down, backing
/// off, beyond <c>Monitoring:MaxLag</c> / <c>MaxLagBytes</c>, or its slot retains more WAL than <c>MaxWalRetainedBytes</c>:
/// usable from scripts and cron.
/// </summary>
internal static class StatusCommand
{
    public static async Task<int> RunAsync(CliConfiguration configuration, bool json, CancellationToken ct)
    {
        var options = configuration.LoadOptions(requireNode: false);
        var status = await new ClusterStatusReader(new ClusterTopology(options)).ReadAsync(null, null, ct);
        var bounds = options.Monitoring;
        var problems = status.Nodes.SelectMany(n => n.Links).Select(l => (Link: l, Why: Problem(l, bounds))).Where(p => p.Why is not null).ToList();

        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(status, new JsonSerializerOptions(StatusJson.Options) { WriteIndented = true }));
            return problems.Count == 0 ? 0 : 1;
        }

        Console.WriteLine($"cluster {status.Cluster}");
        NodeQuery.Print(["node", "worker", "seen at", "dead letters", "tombstones", "error"], status.Nodes.Select(n => new[]
        {
            n.Node, n.Worker, Time(n.WorkerSeenAt), Count(n.DeadLetters), Count(n.Tombstones), n.Error ?? "",
        }).ToList());
        Console.WriteLine();
        NodeQuery.Print(["link", "state", "lag", "lag bytes", "WAL retained", "applied tx", "rows", "conflicts", "parked", "retries", "last error"],
            status.Nodes.SelectMany(n => n.Links).Select(l => new[]
            {
                $"{l.Source} -> {l.Target}", l.State, Seconds(l.LagSeconds), Bytes(l.LagBytes),
                Bytes(l.WalRetainedBytes) + (l.WalRetainedBytes > bounds.MaxWalRetainedBytes ? " (over)" : ""),
                Count(l.TransactionsApplied), Count(l.RowsApplied), Count(l.Conflicts), Count(l.Parked), Count(l.Retries),
                l.LastError is null ? "" : $"{Time(l.LastErrorAt)} {l.LastError}",
            }).ToList(), maxWidth: 80);
        Console.WriteLine();
        foreach (var (link, why) in problems) Console.WriteLine($"problem: {link.Source} -> {link.Target}: {why}");
        Console.WriteLine(problems.Count == 0 ? "All links are streaming within their lag bounds." : $"{problems.Count} link(s) need attention.");
        return problems.Count == 0 ? 0 : 1;
    }

    private static string? Problem(LinkView l, Configuration.MonitoringOptions bounds)
    {
        // Said with the state too: a link down for long is exactly when the slot's WAL grows.
        var retained = l.WalRetainedBytes > bounds.MaxWalRetainedBytes
            ? $"its slot retains {Bytes(l.WalRetainedBytes)} of {l.Source}'s WAL, over Monitoring:MaxWalRetainedBytes {Bytes(bounds.MaxWalRetainedBytes)}: " +
              $"bring {l.Target} back, or if it is gone for good, pgmm node remove {l.Target} --force releases it"
            : null;
        if (l.State is "down" or "backing_off" or "slot_lost")
            return (l.State == "slot_lost" && l.LastError?.Contains("was invalidated", StringComparison.Ordinal) == true ? "slot_lost (slot invalidated)" : l.State)
                   + (l.LastError is null ? "" : $": {l.LastError}") + (retained is null ? "" : $"; {retained}");
        if (retained is not null) return retained;
        if (l.LagSeconds > bounds.MaxLag.TotalSeconds) return $"lag {Seconds(l.LagSeconds)} exceeds Monitoring:MaxLag {bounds.MaxLag}";
        if (l.LagBytes > bounds.MaxLagBytes) return $"lag {Bytes(l.LagBytes)} exceeds Monitoring:MaxLagBytes {Bytes(bounds.MaxLagBytes)}";
        return null;
    }

    private static string Count(long? n) => n?.ToString(CultureInfo.InvariantCulture) ?? "?";

    private static string Time(DateTimeOffset? t) => t?.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) ?? "";

    private static string Seconds(double? s) => s switch
    {
        null => "?",
        < 1 => string.Create(CultureInfo.InvariantCulture, $"{s * 1000:0.#} ms"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{s:0.##} s"),
    };

    private static string Bytes(long? b) => b switch
    {
        null => "?",
        < 1024 => $"{b} B",
        < 1 << 20 => string.Create(CultureInfo.InvariantCulture, $"{b / 1024.0:0.#} kB"),
        < 1 << 30 => string.Create(CultureInfo.InvariantCulture, $"{b / 1048576.0:0.#} MB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{b / 1073741824.0:0.##} GB"),
    };
}
