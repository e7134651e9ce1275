using System.Globalization;
using System.Text;
using System.Text.Json;

namespace PgMultiMaster.Bench;

/// <summary>A markdown table (printed and saved) and the same figures as JSON.</summary>
internal static class Report
{
    public static void Write(IReadOnlyList<Result> results, string machine, string outDir)
    {
        Directory.CreateDirectory(outDir);
        var sb = new StringBuilder();
        sb.AppendLine(machine).AppendLine();
        sb.AppendLine("| workload | system | units | seconds | rate | ratio vs native | lag p50 / p99 ms | worker CPU s / 100k | worker peak RSS MB |");
        sb.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in results)
        {
            var ratio = r.System == "native" || r.LagP50Ms is not null || RatioToNative(results, r) is not { } x ? "" : x.ToString("0.00", CultureInfo.InvariantCulture);
            var lag = r.LagP50Ms is null ? "" : string.Create(CultureInfo.InvariantCulture, $"{r.LagP50Ms:0.0} / {r.LagP99Ms:0.0}");
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"| {r.Workload} | {r.System} | {r.Units:N0} {r.Unit} | {r.Seconds:0.00} | {r.PerSecond:N0} {r.Unit}/s | {ratio} | {lag} | {r.CpuPer100k:0.00}{(r.CpuLabel is null ? "" : $" ({r.CpuLabel})")} | {r.PeakRssMb:0} |");
        }
        var notes = results.Where(r => r.Note is not null).ToList();
        if (notes.Count > 0) sb.AppendLine();
        foreach (var r in notes) sb.AppendLine(CultureInfo.InvariantCulture, $"- {r.Workload}, {r.System}: {r.Note}");
        foreach (var line in MedianRatios(results)) sb.AppendLine(line);
        var table = sb.ToString();
        Console.WriteLine(table);
        File.WriteAllText(Path.Combine(outDir, "latest.md"), table);
        File.WriteAllText(Path.Combine(outDir, "latest.json"), JsonSerializer.Serialize(results, new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>Rate over native's rate in the same workload (and run), if native ran it.</summary>
    private static double? RatioToNative(IReadOnlyList<Result> results, Result r) =>
        results.FirstOrDefault(n => n.Workload == r.Workload && n.System == "native") is { } native ? r.PerSecond / native.PerSecond : null;

    /// <summary>For a workload measured several times (<c>--repeat</c>): each run's pgmm / native ratio and their median.</summary>
    private static IEnumerable<string> MedianRatios(IReadOnlyList<Result> results)
    {
        var runs = results.Where(r => r.System == "pgmm" && r.IsRepeated && RatioToNative(results, r) is not null);
        foreach (var workload in runs.GroupBy(r => r.BaseWorkload))
        {
            var ratios = workload.Select(r => RatioToNative(results, r)!.Value).ToList();
            var sorted = ratios.Order().ToList();
            var median = sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
            yield return string.Create(CultureInfo.InvariantCulture,
                $"- {workload.Key}: pgmm / native {string.Join(", ", ratios.Select(x => x.ToString("0.00", CultureInfo.InvariantCulture)))}; median {median:0.00}");
        }
    }
}
