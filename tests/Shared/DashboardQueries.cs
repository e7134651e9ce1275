using System.Text.Json;
using System.Text.RegularExpressions;

namespace PgMultiMaster.Charts;

/// <summary>
/// The PromQL of the Helm chart's Grafana dashboard (charts/pgmultimaster/files/grafana-dashboard.json) and the
/// pgmm_ metrics it queries. Shared by the unit tests (the dashboard only names documented metrics) and the
/// integration tests (a live worker exports every one of them). Depends on System.Text.Json and
/// System.Text.RegularExpressions only, so that any test project can compile it by linking.
/// </summary>
public static partial class DashboardQueries
{
    /// <summary>The dashboard's path, relative to the repository root.</summary>
    public const string DashboardRelativePath = "charts/pgmultimaster/files/grafana-dashboard.json";

    [GeneratedRegex(@"(?<![A-Za-z0-9_:])pgmm_[A-Za-z0-9_:]+")]
    private static partial Regex MetricReference();

    [GeneratedRegex("_(bucket|sum|count)$")]
    private static partial Regex HistogramSuffix();

    /// <summary>The repository root: the first directory above the test assembly that holds PgMultiMaster.sln.</summary>
    public static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "PgMultiMaster.sln")))
                return dir.FullName;
        throw new DirectoryNotFoundException($"PgMultiMaster.sln not found in {AppContext.BaseDirectory} or any directory above it.");
    }

    /// <summary>The dashboard's absolute path.</summary>
    public static string DashboardPath() => Path.Combine(RepoRoot(), DashboardRelativePath);

    /// <summary>The base names (without _bucket, _sum or _count) of every pgmm_ metric the dashboard queries.</summary>
    public static IReadOnlySet<string> MetricNames() => MetricNames(File.ReadAllText(DashboardPath()));

    /// <summary>The base names of every pgmm_ metric the given dashboard JSON queries.</summary>
    public static IReadOnlySet<string> MetricNames(string dashboardJson) =>
        ReferencedNames(Expressions(dashboardJson)).Select(BaseName).ToHashSet(StringComparer.Ordinal);

    /// <summary>Every query of the dashboard: each panel target's expr (rows' nested panels included) and each query variable's query.</summary>
    public static IReadOnlyList<string> Expressions() => Expressions(File.ReadAllText(DashboardPath()));

    /// <summary>Every query of the given dashboard JSON.</summary>
    public static IReadOnlyList<string> Expressions(string dashboardJson)
    {
        using var doc = JsonDocument.Parse(dashboardJson);
        var root = doc.RootElement;
        var found = new List<string>();
        if (root.TryGetProperty("panels", out var panels))
            CollectPanelExpressions(panels, found);
        if (root.TryGetProperty("templating", out var templating) && templating.TryGetProperty("list", out var variables))
        {
            foreach (var variable in variables.EnumerateArray())
            {
                if (!variable.TryGetProperty("type", out var type) || type.GetString() != "query" ||
                    !variable.TryGetProperty("query", out var query))
                    continue;
                if (query.ValueKind == JsonValueKind.String)
                    found.Add(query.GetString()!);
                else if (query.ValueKind == JsonValueKind.Object && query.TryGetProperty("query", out var inner) && inner.ValueKind == JsonValueKind.String)
                    found.Add(inner.GetString()!);
            }
        }
        return found;
    }

    /// <summary>The pgmm_ names exactly as the expressions write them (histogram suffixes kept).</summary>
    public static IReadOnlySet<string> ReferencedNames(IEnumerable<string> expressions) =>
        expressions.SelectMany(e => MetricReference().Matches(e).Select(m => m.Value)).ToHashSet(StringComparer.Ordinal);

    /// <summary>A series name without the histogram suffix _bucket, _sum or _count.</summary>
    public static string BaseName(string seriesName) => HistogramSuffix().Replace(seriesName, "");

    private static void CollectPanelExpressions(JsonElement panels, List<string> found)
    {
        foreach (var panel in panels.EnumerateArray())
        {
            if (panel.TryGetProperty("targets", out var targets))
                foreach (var target in targets.EnumerateArray())
                    if (target.TryGetProperty("expr", out var expr) && expr.ValueKind == JsonValueKind.String)
                        found.Add(expr.GetString()!);
            if (panel.TryGetProperty("panels", out var nested))
                CollectPanelExpressions(nested, found);
        }
    }
}
