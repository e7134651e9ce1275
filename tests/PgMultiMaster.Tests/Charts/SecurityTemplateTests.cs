using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace PgMultiMaster.Tests.Charts;

/// <summary>
/// The templates behind the production-safety values, read without helm: the TLS and passfile Secrets reach both
/// kinds of pods at the paths the documentation names, the API is never anonymous by accident, and the
/// NetworkPolicy admits only configured peers.
/// </summary>
public sealed partial class SecurityTemplateTests
{
    [GeneratedRegex(@"^( *)\{\{- include ""(pgmm\.volumes|pgmm\.volumeMounts)"" [.$] \| trim \| nindent (\d+) \}\}$", RegexOptions.Multiline)]
    private static partial Regex VolumeInclude();

    [GeneratedRegex(@"^( *)- ", RegexOptions.Multiline)]
    private static partial Regex ListItem();

    private static JsonArray Yaml(string text) => ChartFiles.ToJson(Assert.Single(ChartFiles.LoadYaml(ChartFiles.StripActions(text))).RootNode)!.AsArray();

    [Theory]
    [InlineData("deployment.yaml")]
    [InlineData("init-job.yaml")]
    public void The_pods_take_the_secret_and_extra_volumes_into_their_lists_at_the_lists_indentation(string template)
    {
        var text = ChartFiles.Read("templates", template);
        var includes = VolumeInclude().Matches(text).ToDictionary(m => m.Groups[2].Value);
        Assert.Equal(["pgmm.volumeMounts", "pgmm.volumes"], includes.Keys.Order(StringComparer.Ordinal));
        foreach (var include in includes.Values)
        {
            // nindent must put the helper's "- name:" items where the items before it are, or they land in another list.
            var lastItem = ListItem().Matches(text[..include.Index]).Last();
            Assert.Equal(lastItem.Groups[1].Value.Length, int.Parse(include.Groups[3].Value, System.Globalization.CultureInfo.InvariantCulture));
        }
        Assert.True(includes["pgmm.volumeMounts"].Index < text.IndexOf("volumes:", StringComparison.Ordinal), "the mounts belong to the container, before the pod's volumes");
        Assert.True(includes["pgmm.volumes"].Index > text.IndexOf("volumes:", StringComparison.Ordinal));
    }

    [Fact]
    public void The_secret_volumes_are_0440_and_mounted_read_only_where_the_connection_strings_say()
    {
        var volumes = Yaml(ChartFiles.Helper("pgmm.volumes"));
        var tls = volumes.Single(v => (string?)v!["name"] == "pgmm-tls")!;
        var passfile = volumes.Single(v => (string?)v!["name"] == "pgmm-passfile")!;
        Assert.Equal(288, (long)tls["secret"]!["defaultMode"]!); // 0440: owner root, group fsGroup
        Assert.Equal(288, (long)passfile["secret"]!["defaultMode"]!);
        Assert.Equal("pgpass", (string?)Assert.Single(passfile["secret"]!["items"]!.AsArray())!["path"]);

        var mountsText = ChartFiles.Helper("pgmm.volumeMounts");
        var mounts = Yaml(mountsText);
        Assert.Equal(["pgmm-tls", "pgmm-passfile"], mounts.Select(m => (string?)m!["name"]));
        Assert.All(mounts, m => Assert.True((bool)m!["readOnly"]!));
        Assert.Contains("- name: pgmm-tls\n  mountPath: {{ include \"pgmm.tlsDir\" . }}", mountsText, StringComparison.Ordinal);
        Assert.Contains("- name: pgmm-passfile\n  mountPath: {{ include \"pgmm.passfileDir\" . }}", mountsText, StringComparison.Ordinal);

        var tlsDir = ChartFiles.Helper("pgmm.tlsDir");
        var passfileDir = ChartFiles.Helper("pgmm.passfileDir");
        Assert.Equal("/etc/pgmm/tls", tlsDir);
        Assert.Equal("/etc/pgmm/passfile", passfileDir);
        var values = ChartFiles.Read("values.yaml");
        foreach (var documented in new[] { $"Root Certificate={tlsDir}/ca.crt", $"SSL Certificate={tlsDir}/tls.crt", $"SSL Key={tlsDir}/tls.key", $"Passfile={passfileDir}/pgpass", "SSL Mode=VerifyFull" })
            Assert.Contains(documented, values, StringComparison.Ordinal);
        Assert.Contains($"Root Certificate={tlsDir}/ca.crt", ChartFiles.Read("examples", "east-west-north.yaml"), StringComparison.Ordinal);
    }

    [Fact]
    public void Secret_volumes_are_mounted_only_when_given_and_extra_ones_always_pass_through()
    {
        var volumes = ChartFiles.Helper("pgmm.volumes");
        var mounts = ChartFiles.Helper("pgmm.volumeMounts");
        Assert.Contains("{{- with .Values.tls.existingSecret }}", volumes, StringComparison.Ordinal);
        Assert.Contains("{{- with .Values.passfile.existingSecret }}", volumes, StringComparison.Ordinal);
        Assert.Contains("- key: {{ $.Values.passfile.key | quote }}", volumes, StringComparison.Ordinal);
        Assert.Contains("{{- with .Values.extraVolumes }}", volumes, StringComparison.Ordinal);
        Assert.Contains("{{- if .Values.tls.existingSecret }}", mounts, StringComparison.Ordinal);
        Assert.Contains("{{- if .Values.passfile.existingSecret }}", mounts, StringComparison.Ordinal);
        Assert.Contains("{{- with .Values.extraVolumeMounts }}", mounts, StringComparison.Ordinal);
    }

    [Fact]
    public void The_chart_s_own_volume_names_are_refused_for_extra_volumes()
    {
        var own = Yaml(ChartFiles.Helper("pgmm.volumes")).Select(v => (string)v!["name"]!).ToList();
        var deployment = ChartFiles.TemplateManifest("deployment.yaml", "Deployment");
        own.AddRange(deployment["spec"]!["template"]!["spec"]!["volumes"]!.AsArray().Select(v => (string)v!["name"]!));
        var schema = JsonNode.Parse(ChartFiles.Read("values.schema.json"))!;
        var reserved = schema["definitions"]!["volumeName"]!["allOf"]!.AsArray()
            .Select(b => b!["not"]?["enum"]).OfType<JsonArray>().Single().Select(n => (string)n!).ToHashSet();
        Assert.Equal(own.ToHashSet(), reserved);
    }

    [Fact]
    public void The_configuration_renders_allowAnonymous_and_showRowValues_into_Monitoring()
    {
        var appsettings = ChartFiles.Helper("pgmm.appsettings");
        Assert.Contains("set $monitoring \"AllowAnonymous\" .Values.monitoring.allowAnonymous", appsettings, StringComparison.Ordinal);
        Assert.Contains("set $monitoring \"ShowRowValues\" .Values.monitoring.showRowValues", appsettings, StringComparison.Ordinal);
        Assert.Contains("set $pgmm \"Monitoring\" $monitoring", appsettings, StringComparison.Ordinal);
        Assert.True(appsettings.IndexOf("\"ShowRowValues\"", StringComparison.Ordinal) < appsettings.IndexOf("set $pgmm \"Monitoring\"", StringComparison.Ordinal),
            "the keys must be set before the Monitoring section is rendered");
    }

    [Fact]
    public void Rendering_without_a_token_or_allowAnonymous_fails_and_names_the_values_to_set()
    {
        var validate = ChartFiles.Helper("pgmm.validate");
        Assert.Contains("{{- $token := .Values.monitoring.accessTokenSecret | default dict }}", validate, StringComparison.Ordinal);
        var check = Regex.Match(validate, @"\{\{- if not \(or \$token\.name \.Values\.monitoring\.allowAnonymous\) \}\}\s*\{\{- fail ""([^""]*)"" \}\}");
        Assert.True(check.Success, "no fail on a missing token in pgmm.validate");
        foreach (var named in new[] { "monitoring.accessTokenSecret.name", "monitoring.allowAnonymous=true", "kubectl create secret generic pgmm-access-token" })
            Assert.Contains(named, check.Groups[1].Value, StringComparison.Ordinal);
        // The ConfigMap is rendered in every release, so its validate runs in every release.
        Assert.StartsWith("{{- include \"pgmm.validate\" . }}", ChartFiles.Read("templates", "configmap.yaml"), StringComparison.Ordinal);
    }

    [Fact]
    public void Notes_open_the_dashboard_with_the_token_in_the_fragment()
    {
        var notes = ChartFiles.Read("templates", "NOTES.txt");
        Assert.Contains("http://localhost:8080/#token=<token>", notes, StringComparison.Ordinal);
        Assert.DoesNotContain("?token=", notes, StringComparison.Ordinal);
        Assert.Contains("--from-literal={{ $token.key }}=$(openssl rand -hex 24)", notes, StringComparison.Ordinal);
        Assert.Contains("WARNING: monitoring.allowAnonymous is true", notes, StringComparison.Ordinal);
        Assert.DoesNotContain("?token=", ChartFiles.Read("values.yaml"), StringComparison.Ordinal);
    }

    [Fact]
    public void The_network_policy_is_off_by_default_and_admits_only_configured_peers_to_the_http_port()
    {
        var text = ChartFiles.Read("templates", "networkpolicy.yaml");
        Assert.StartsWith("{{- if .Values.networkPolicy.enabled }}", text, StringComparison.Ordinal);
        Assert.False((bool)ChartValues.Defaults()["networkPolicy"]!["enabled"]!);
        var policy = ChartFiles.TemplateManifest("networkpolicy.yaml", "NetworkPolicy");
        Assert.Equal("networking.k8s.io/v1", (string?)policy["apiVersion"]);
        Assert.Contains("{{- include \"pgmm.selectorLabels\" . | nindent 6 }}", text, StringComparison.Ordinal);
        Assert.Equal(["Ingress", "Egress"], policy["spec"]!["policyTypes"]!.AsArray().Select(t => (string?)t));

        // A rule without `from` would admit every source: each rule names its peers, on the worker port only.
        var rule = Assert.Single(policy["spec"]!["ingress"]!.AsArray())!.AsObject();
        Assert.True(rule.ContainsKey("from"), "an ingress rule without from admits everybody");
        Assert.Equal("TCP", (string?)Assert.Single(rule["ports"]!.AsArray())!["protocol"]);
        Assert.Contains("- port: {{ $.Values.monitoring.port }}", text, StringComparison.Ordinal);
        Assert.Matches(@"\{\{- with \.Values\.networkPolicy\.ingressFrom \}\}\s*- ports:", text);
    }

    [Fact]
    public void Restricted_egress_allows_the_postgresql_ports_and_dns_only()
    {
        var text = ChartFiles.Read("templates", "networkpolicy.yaml");
        Assert.Matches(@"\{\{- if \.Values\.networkPolicy\.egress\.enabled \}\}\s*egress:", text);
        var rules = ChartFiles.TemplateManifest("networkpolicy.yaml", "NetworkPolicy")["spec"]!["egress"]!.AsArray();
        Assert.Equal(2, rules.Count);
        Assert.True(rules[0]!.AsObject().ContainsKey("to"));
        Assert.Contains("{{- range .Values.networkPolicy.egress.ports }}", text, StringComparison.Ordinal);
        var dns = rules[1]!["ports"]!.AsArray().Select(p => ((long)p!["port"]!, (string?)p["protocol"])).ToList();
        Assert.Equal([(53L, "UDP"), (53L, "TCP")], dns);
    }
}
