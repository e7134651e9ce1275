using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using PgMultiMaster.Charts;

namespace PgMultiMaster.Tests.Charts;

/// <summary>The Grafana dashboard of the chart queries only the metrics that docs/monitoring-contract.md documents.</summary>
public sealed partial class GrafanaDashboardTests
{
    [GeneratedRegex(@"`(pgmm_[a-z0-9_]+)`")]
    private static partial Regex BacktickedMetric();

    [GeneratedRegex(@"`(pgmm_[a-z0-9_]+)`\s+histogram")]
    private static partial Regex DocumentedHistogram();

    [GeneratedRegex(@"\b(?:rate|irate|increase)\(\s*(pgmm_[A-Za-z0-9_:]+)")]
    private static partial Regex RateOver();

    private static readonly string[] HistogramSuffixes = ["_bucket", "_sum", "_count"];

    private static string Contract => File.ReadAllText(Path.Combine(DashboardQueries.RepoRoot(), "docs", "monitoring-contract.md"));

    private static HashSet<string> DocumentedMetrics() => BacktickedMetric().Matches(Contract).Select(m => m.Groups[1].Value).ToHashSet();

    private static HashSet<string> DocumentedHistograms() => DocumentedHistogram().Matches(Contract).Select(m => m.Groups[1].Value).ToHashSet();

    private static JsonObject Dashboard() => JsonNode.Parse(File.ReadAllText(DashboardQueries.DashboardPath()))!.AsObject();

    private static IEnumerable<JsonObject> Panels(JsonNode? panels) =>
        panels is not JsonArray list ? [] : list.OfType<JsonObject>().SelectMany(p => Panels(p["panels"]).Prepend(p));

    [Fact]
    public void The_contract_lists_the_metrics()
    {
        var documented = DocumentedMetrics();
        Assert.True(documented.Count >= 10, $"only {documented.Count} metric names found in docs/monitoring-contract.md");
        Assert.Contains("pgmm_link_state", documented);
        Assert.Equal(["pgmm_apply_duration_seconds"], DocumentedHistograms());
    }

    [Fact]
    public void The_dashboard_is_grafana_json_with_its_uid_and_variables()
    {
        var dashboard = Dashboard();
        Assert.Equal("pgmultimaster", (string?)dashboard["uid"]);
        Assert.InRange((int)dashboard["schemaVersion"]!, 36, 45);
        Assert.False(string.IsNullOrWhiteSpace((string?)dashboard["title"]));
        var variables = dashboard["templating"]!["list"]!.AsArray().OfType<JsonObject>().ToDictionary(v => (string)v["name"]!);
        var datasource = variables["DS_PROMETHEUS"];
        Assert.Equal("datasource", (string?)datasource["type"]);
        Assert.Equal("prometheus", (string?)datasource["query"]);
        foreach (var name in new[] { "source", "target" })
        {
            Assert.Equal("query", (string?)variables[name]["type"]);
            Assert.Equal("${DS_PROMETHEUS}", (string?)variables[name]["datasource"]!["uid"]);
        }
    }

    [Fact]
    public void Every_panel_queries_prometheus_through_the_datasource_variable()
    {
        var panels = Panels(Dashboard()["panels"]).Where(p => (string?)p["type"] != "row").ToList();
        Assert.True(panels.Count >= 13, $"only {panels.Count} panels");
        Assert.Equal(panels.Count, panels.Select(p => (int)p["id"]!).Distinct().Count());
        foreach (var panel in panels)
        {
            var title = (string?)panel["title"];
            Assert.Equal("${DS_PROMETHEUS}", (string?)panel["datasource"]!["uid"]);
            var targets = panel["targets"]!.AsArray();
            Assert.True(targets.Count > 0, $"panel '{title}' has no query");
            foreach (var target in targets)
            {
                Assert.False(string.IsNullOrWhiteSpace((string?)target!["expr"]), $"panel '{title}' has an empty query");
                Assert.Equal("${DS_PROMETHEUS}", (string?)target["datasource"]!["uid"]);
            }
            Assert.NotNull(panel["gridPos"]);
        }
    }

    [Fact]
    public void Every_query_names_only_documented_metrics()
    {
        var documented = DocumentedMetrics();
        var histograms = DocumentedHistograms();
        var expressions = DashboardQueries.Expressions();
        Assert.True(expressions.Count >= 15, $"only {expressions.Count} queries found");
        var referenced = DashboardQueries.ReferencedNames(expressions);
        Assert.NotEmpty(referenced);
        foreach (var name in referenced)
        {
            var ok = documented.Contains(name) ||
                     HistogramSuffixes.Any(s => name.EndsWith(s, StringComparison.Ordinal) && histograms.Contains(name[..^s.Length]));
            Assert.True(ok, $"the dashboard queries {name}, which docs/monitoring-contract.md does not document");
        }
    }

    [Fact]
    public void The_dashboard_shows_every_documented_metric()
    {
        var shown = DashboardQueries.MetricNames();
        Assert.Empty(DocumentedMetrics().Except(shown));
        Assert.All(shown, n => Assert.False(n.EndsWith("_bucket", StringComparison.Ordinal), n));
    }

    [Fact]
    public void Counters_are_read_through_rate_and_gauges_are_not()
    {
        var expressions = DashboardQueries.Expressions();
        foreach (var expr in expressions)
        {
            foreach (Match m in RateOver().Matches(expr))
            {
                var name = m.Groups[1].Value;
                Assert.True(name.EndsWith("_total", StringComparison.Ordinal) || name.EndsWith("_bucket", StringComparison.Ordinal),
                    $"rate over the gauge {name}: {expr}");
            }
            foreach (var counter in DashboardQueries.ReferencedNames([expr]).Where(n => n.EndsWith("_total", StringComparison.Ordinal) || n.EndsWith("_bucket", StringComparison.Ordinal)))
                Assert.Matches($@"(rate|increase)\(\s*{counter}\b", expr);
        }
    }

    [Fact]
    public void The_key_panels_use_the_expected_queries()
    {
        var expressions = DashboardQueries.Expressions();
        Assert.Contains(expressions, e => e.Contains("pgmm_link_state", StringComparison.Ordinal) && e.Contains("== 1", StringComparison.Ordinal));
        Assert.Contains(expressions, e => e.Contains("histogram_quantile(0.5,", StringComparison.Ordinal) && e.Contains("pgmm_apply_duration_seconds_bucket", StringComparison.Ordinal));
        Assert.Contains(expressions, e => e.Contains("histogram_quantile(0.99,", StringComparison.Ordinal) && e.Contains("pgmm_apply_duration_seconds_bucket", StringComparison.Ordinal));
        Assert.Contains(expressions, e => e.Contains("rate(pgmm_transactions_applied_total", StringComparison.Ordinal));
        Assert.Contains(expressions, e => e.Contains("by (table, operation)", StringComparison.Ordinal) && e.Contains("pgmm_rows_applied_total", StringComparison.Ordinal));
        Assert.Contains(expressions, e => e.Contains("by (table, type, resolution)", StringComparison.Ordinal) && e.Contains("pgmm_conflicts_total", StringComparison.Ordinal));
        foreach (var expr in expressions)
        {
            Assert.Equal(expr.Count(c => c == '('), expr.Count(c => c == ')'));
            Assert.Equal(expr.Count(c => c == '{'), expr.Count(c => c == '}'));
        }
    }

    [Fact]
    public void The_helper_finds_metrics_in_nested_panels_and_variables_and_strips_histogram_suffixes()
    {
        const string json = """
            { "panels": [ { "type": "row", "panels": [ { "targets": [ { "expr": "sum(rate(pgmm_a_bucket[5m])) / sum(rate(pgmm_a_count[5m]))" } ] } ] },
                          { "targets": [ { "expr": "pgmm_b{state=\"x\"} == 1" }, { "refId": "B" } ] } ],
              "templating": { "list": [ { "type": "query", "query": "label_values(pgmm_c, source)" },
                                        { "type": "query", "query": { "query": "label_values(pgmm_d, target)" } },
                                        { "type": "datasource", "query": "prometheus" } ] } }
            """;
        Assert.Equal(["pgmm_a", "pgmm_b", "pgmm_c", "pgmm_d"], DashboardQueries.MetricNames(json).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void The_configmap_template_labels_the_dashboard_for_the_grafana_sidecar()
    {
        var template = ChartFiles.Read("templates", "grafana-dashboard.yaml");
        Assert.Contains("grafana_dashboard", template, StringComparison.Ordinal);
        Assert.Contains(".Values.grafanaDashboard.labels", template, StringComparison.Ordinal);
        Assert.Contains(".Files.Get \"files/grafana-dashboard.json\"", template, StringComparison.Ordinal);
        var values = ChartFiles.YamlFileToJson(ChartFiles.PathOf("values.yaml"))!;
        Assert.True((bool)values["grafanaDashboard"]!["enabled"]!);
        Assert.Equal("1", (string?)values["grafanaDashboard"]!["labels"]!["grafana_dashboard"]);
        var configMap = Assert.Single(ChartFiles.LoadYaml(ChartFiles.StripActions(template))).RootNode;
        var json = ChartFiles.ToJson(configMap)!;
        Assert.Equal("ConfigMap", (string?)json["kind"]);
        Assert.True(json["data"]!.AsObject().ContainsKey("pgmultimaster.json"));
    }
}
