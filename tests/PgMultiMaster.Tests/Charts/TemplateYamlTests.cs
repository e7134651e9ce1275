using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using YamlDotNet.RepresentationModel;

namespace PgMultiMaster.Tests.Charts;

/// <summary>
/// The chart's templates without helm: each templates/*.yaml is YAML once its {{ ... }} actions are removed, every
/// .Values path they use is described by values.schema.json, and the worker and init-job manifests have the shape
/// that keeps one worker per node.
/// </summary>
public sealed partial class TemplateYamlTests
{
    [GeneratedRegex(@"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")]
    private static partial Regex ValuesPath();

    private static string TemplatesDir => ChartFiles.PathOf("templates");

    private static List<string> TemplateFiles() =>
        [.. Directory.GetFiles(TemplatesDir, "*.yaml").Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal)];

    public static TheoryData<string> YamlTemplates() => new(TemplateFiles());

    private static List<YamlMappingNode> Manifests(string template) => ChartFiles.TemplateManifests(template);

    private static JsonObject Manifest(string template, string kind) => ChartFiles.TemplateManifest(template, kind);

    [Fact]
    public void The_chart_has_all_its_templates()
    {
        var names = TemplateFiles();
        Assert.True(names.Count >= 7, $"only {names.Count} templates found in {TemplatesDir}");
        foreach (var expected in new[] { "configmap.yaml", "deployment.yaml", "service.yaml", "servicemonitor.yaml", "grafana-dashboard.yaml", "init-job.yaml", "networkpolicy.yaml" })
            Assert.Contains(expected, names);
        Assert.True(File.Exists(Path.Combine(TemplatesDir, "_helpers.tpl")));
        Assert.True(File.Exists(Path.Combine(TemplatesDir, "NOTES.txt")));
    }

    [Theory]
    [MemberData(nameof(YamlTemplates))]
    public void Every_template_is_yaml_once_the_template_actions_are_removed(string template)
    {
        var manifests = Manifests(template);
        Assert.NotEmpty(manifests);
        foreach (var manifest in manifests)
        {
            var json = ChartFiles.ToJson(manifest)!;
            Assert.False(string.IsNullOrEmpty((string?)json["apiVersion"]), $"{template}: a document without apiVersion");
            Assert.False(string.IsNullOrEmpty((string?)json["kind"]), $"{template}: a document without kind");
            Assert.NotNull(json["metadata"]);
        }
    }

    [Fact]
    public void Every_values_path_the_templates_use_is_in_the_schema()
    {
        var schema = JsonNode.Parse(ChartFiles.Read("values.schema.json"))!.AsObject();
        var files = Directory.GetFiles(TemplatesDir).Where(f => f.EndsWith(".yaml", StringComparison.Ordinal) || f.EndsWith(".tpl", StringComparison.Ordinal) || f.EndsWith(".txt", StringComparison.Ordinal));
        var paths = files.SelectMany(f => ValuesPath().Matches(File.ReadAllText(f)).Select(m => m.Groups[1].Value.TrimStart('.'))).ToHashSet();
        Assert.True(paths.Count >= 20, $"only {paths.Count} .Values paths found");
        var unknown = paths.Where(p => !Describes(schema, schema, p.Split('.'))).Order(StringComparer.Ordinal).ToList();
        Assert.True(unknown.Count == 0, "not in values.schema.json: " + string.Join(", ", unknown));
    }

    // True when the schema has a property for each segment, following $ref, allOf and anyOf; a schema without
    // "properties" (a free-form map, e.g. conflicts tables or labels) describes whatever lies below it.
    private static bool Describes(JsonObject root, JsonObject schema, ReadOnlySpan<string> path)
    {
        if (path.IsEmpty) return true;
        if (schema["$ref"] is JsonValue reference)
        {
            var target = root;
            foreach (var part in ((string)reference!).TrimStart('#', '/').Split('/'))
                target = target[part]!.AsObject();
            return Describes(root, target, path);
        }
        foreach (var combinator in new[] { "allOf", "anyOf", "oneOf" })
            if (schema[combinator] is JsonArray branches && branches.Any(b => b!.AsObject().ContainsKey("properties") || b.AsObject().ContainsKey("$ref")))
            {
                var rest = path.ToArray();
                return branches.Any(b => b is JsonObject o && (o.ContainsKey("properties") || o.ContainsKey("$ref")) && Describes(root, o, rest));
            }
        if (schema["properties"] is not JsonObject properties) return schema["additionalProperties"] is not JsonValue;
        return properties[path[0]] is JsonObject property && Describes(root, property, path[1..]);
    }

    [Fact]
    public void Each_node_gets_one_worker_that_is_never_rolled_over_by_a_second_one()
    {
        var deployment = Manifest("deployment.yaml", "Deployment");
        Assert.Equal(1, (long)deployment["spec"]!["replicas"]!);
        Assert.Equal("Recreate", (string?)deployment["spec"]!["strategy"]!["type"]);

        var template = File.ReadAllText(Path.Combine(TemplatesDir, "deployment.yaml"));
        Assert.Contains("range $node := .Values.nodes", template, StringComparison.Ordinal);
        var container = Assert.Single(deployment["spec"]!["template"]!["spec"]!["containers"]!.AsArray())!;
        var args = container["args"]!.AsArray().Select(a => (string?)a).ToList();
        Assert.Equal(["run", "--config", null, "--node", null], args); // the two values are template actions
        Assert.Contains("- {{ include \"pgmm.configPath\" $ }}", template, StringComparison.Ordinal);
        Assert.Equal("/healthz", (string?)container["livenessProbe"]!["httpGet"]!["path"]);
        Assert.Equal("/readyz", (string?)container["readinessProbe"]!["httpGet"]!["path"]);
        Assert.Equal("http", (string?)container["ports"]![0]!["name"]);
        var mounts = container["volumeMounts"]!.AsArray().Select(m => (string?)m!["mountPath"]).ToList();
        Assert.Contains("/tmp", mounts);
        Assert.Contains("checksum/config", template, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_pgmm_container_gets_the_connection_string_of_every_node_from_its_secret()
    {
        var helpers = File.ReadAllText(Path.Combine(TemplatesDir, "_helpers.tpl"));
        Assert.Matches(@"range \$i, \$node := \.Values\.nodes \}\}\s*- name: PgMultiMaster__Nodes__\{\{ \$i \}\}__ConnectionString\s*valueFrom:\s*secretKeyRef:", helpers);
        Assert.Contains("PgMultiMaster__Monitoring__AccessToken", helpers, StringComparison.Ordinal);
        foreach (var template in new[] { "deployment.yaml", "init-job.yaml" })
            Assert.Contains("include \"pgmm.env\"", File.ReadAllText(Path.Combine(TemplatesDir, template)), StringComparison.Ordinal);
        // No connection string in any ConfigMap: the configuration only names the nodes.
        Assert.DoesNotContain("ConnectionString", Regex.Match(helpers, @"define ""pgmm.appsettings"".*?\{\{- end \}\}", RegexOptions.Singleline).Value, StringComparison.Ordinal);
    }

    [Fact]
    public void The_init_job_is_a_hook_that_reads_a_hook_configmap()
    {
        var job = Manifest("init-job.yaml", "Job");
        var configMap = Manifest("init-job.yaml", "ConfigMap");
        var template = File.ReadAllText(Path.Combine(TemplatesDir, "init-job.yaml"));
        Assert.Contains("helm.sh/hook: {{ .Values.initJob.hooks }}", template, StringComparison.Ordinal);
        Assert.Equal("before-hook-creation,hook-succeeded", (string?)job["metadata"]!["annotations"]!["helm.sh/hook-delete-policy"]);
        var jobWeight = int.Parse((string)job["metadata"]!["annotations"]!["helm.sh/hook-weight"]!, System.Globalization.CultureInfo.InvariantCulture);
        var configWeight = int.Parse((string)configMap["metadata"]!["annotations"]!["helm.sh/hook-weight"]!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(configWeight < jobWeight, "the hook ConfigMap must be created before the Job");
        Assert.Equal("Never", (string?)job["spec"]!["template"]!["spec"]!["restartPolicy"]);
        var container = Assert.Single(job["spec"]!["template"]!["spec"]!["containers"]!.AsArray())!;
        Assert.Equal("init", (string?)container["args"]![0]);
        var values = ChartFiles.YamlFileToJson(ChartFiles.PathOf("values.yaml"))!;
        Assert.True((bool)values["initJob"]!["enabled"]!);
    }

    [Fact]
    public void Worker_services_are_scraped_and_the_dashboard_service_reaches_every_worker()
    {
        var services = Manifests("service.yaml").Select(m => ChartFiles.ToJson(m)!.AsObject()).ToList();
        Assert.Equal(2, services.Count); // the per-node Service inside the range, and the dashboard Service
        Assert.All(services, s => Assert.True((bool)s["spec"]!["publishNotReadyAddresses"]!));
        var template = File.ReadAllText(Path.Combine(TemplatesDir, "service.yaml"));
        Assert.Contains("pgmm.nodeSelectorLabels", template, StringComparison.Ordinal);
        Assert.Contains("pgmm.workerSelectorLabels", template, StringComparison.Ordinal);
        var monitor = File.ReadAllText(Path.Combine(TemplatesDir, "servicemonitor.yaml"));
        Assert.StartsWith("{{- if .Values.serviceMonitor.enabled }}", monitor, StringComparison.Ordinal);
        var endpoint = Assert.Single(Manifest("servicemonitor.yaml", "ServiceMonitor")["spec"]!["endpoints"]!.AsArray())!;
        Assert.Equal("/metrics", (string?)endpoint["path"]);
        Assert.Equal("http", (string?)endpoint["port"]);
        Assert.Contains("pgmm.workerSelectorLabels", monitor, StringComparison.Ordinal);
    }
}
