using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Configuration;
using PgMultiMaster.Configuration;

namespace PgMultiMaster.Tests.Charts;

/// <summary>values.schema.json accepts the chart's values and examples, and refuses what would break the chart.</summary>
public sealed class ValuesSchemaTests
{
    private static JsonObject DefaultValues() => ChartValues.Defaults();

    private static List<(string Location, string Message)> Errors(JsonNode values) => ChartValues.Errors(values);

    private static string Describe(IEnumerable<(string Location, string Message)> errors) => ChartValues.Describe(errors);

    private static void AssertInvalidAt(JsonNode values, string location, string? mentioning = null) =>
        ChartValues.AssertInvalidAt(values, location, mentioning);

    [Fact]
    public void The_schema_is_a_draft_07_schema_that_refuses_unknown_top_level_keys()
    {
        var schema = JsonNode.Parse(ChartFiles.Read("values.schema.json"))!;
        Assert.Equal("http://json-schema.org/draft-07/schema#", (string?)schema["$schema"]);
        Assert.False((bool)schema["additionalProperties"]!);
        Assert.False((bool)schema["definitions"]!["node"]!["additionalProperties"]!);
    }

    [Fact]
    public void Values_yaml_is_valid()
    {
        ChartValues.AssertValid(DefaultValues());
    }

    [Fact]
    public void The_schema_describes_every_key_of_values_yaml()
    {
        // additionalProperties: false at the top level; this also proves that values.yaml and the schema list the same keys.
        var schemaKeys = JsonNode.Parse(ChartFiles.Read("values.schema.json"))!["properties"]!.AsObject().Select(p => p.Key).ToHashSet();
        var valueKeys = DefaultValues().Select(p => p.Key).ToHashSet();
        Assert.Empty(valueKeys.Except(schemaKeys));
        Assert.Empty(schemaKeys.Except(valueKeys).Except(["global"]));
    }

    public static TheoryData<string> Examples()
    {
        var data = new TheoryData<string>();
        foreach (var file in Directory.GetFiles(ChartFiles.PathOf("examples"), "*.yaml").Order(StringComparer.Ordinal))
            data.Add(Path.GetFileName(file));
        return data;
    }

    [Theory]
    [MemberData(nameof(Examples))]
    public void Examples_merged_over_values_yaml_are_valid(string example)
    {
        ChartValues.AssertValid(ChartValues.WithExample(example));
    }

    [Fact]
    public void The_example_has_three_nodes_east_west_and_north()
    {
        var values = ChartFiles.YamlFileToJson(ChartFiles.PathOf("examples", "east-west-north.yaml"))!;
        Assert.Equal(["east", "west", "north"], values["nodes"]!.AsArray().Select(n => (string?)n!["name"]));
    }

    [Fact]
    public void A_node_without_connectionSecret_is_refused_at_that_node()
    {
        var values = DefaultValues();
        values["nodes"]![1]!.AsObject().Remove("connectionSecret");
        AssertInvalidAt(values, "/nodes/1", "connectionSecret");
    }

    [Fact]
    public void A_connectionSecret_without_key_is_refused()
    {
        var values = DefaultValues();
        values["nodes"]![0]!["connectionSecret"]!.AsObject().Remove("key");
        AssertInvalidAt(values, "/nodes/0/connectionSecret", "key");
    }

    [Fact]
    public void A_single_node_is_refused()
    {
        var values = DefaultValues();
        var nodes = values["nodes"]!.AsArray();
        while (nodes.Count > 1) nodes.RemoveAt(nodes.Count - 1);
        AssertInvalidAt(values, "/nodes", "minItems");
    }

    [Fact]
    public void An_unknown_top_level_key_is_refused_by_name()
    {
        var values = DefaultValues();
        values["replicas"] = 3;
        AssertInvalidAt(values, "/replicas");
    }

    [Fact]
    public void An_unknown_key_of_a_node_is_refused()
    {
        var values = DefaultValues();
        values["nodes"]![0]!["connectionString"] = "Host=east;Password=secret";
        AssertInvalidAt(values, "/nodes/0/connectionString");
    }

    [Theory]
    [InlineData("East")]
    [InlineData("1east")]
    [InlineData("east-1")]
    [InlineData("a_name_longer_than_20")]
    [InlineData("east_")]
    [InlineData("")]
    public void A_bad_node_name_is_refused_at_that_name(string name)
    {
        var values = DefaultValues();
        values["nodes"]![2]!["name"] = name;
        AssertInvalidAt(values, "/nodes/2/name");
    }

    [Theory]
    [InlineData("e")]
    [InlineData("east_2")]
    [InlineData("a_name_of_twenty_chr")]
    public void Good_node_names_are_accepted(string name)
    {
        var values = DefaultValues();
        values["nodes"]![2]!["name"] = name;
        Assert.Empty(Errors(values));
    }

    [Fact]
    public void A_bad_cluster_name_is_refused()
    {
        var values = DefaultValues();
        values["cluster"]!["name"] = "my-cluster";
        AssertInvalidAt(values, "/cluster/name");
    }

    [Theory]
    [InlineData("apply", """{ "BatchSize": 0 }""", "/apply/BatchSize")]
    [InlineData("apply", """{ "Batchsize": 100 }""", "/apply/Batchsize")]
    [InlineData("conflicts", """{ "Default": { "Strategy": "Newest" } }""", "/conflicts/Default/Strategy")]
    [InlineData("conflicts", """{ "Tables": { "public.t": { "Types": { "update_gone": "KeepLocal" } } } }""", "/conflicts/Tables/public.t/Types")]
    [InlineData("monitoring", """{ "port": 9478, "maxLag": "1m", "maxLagBytes": 1, "pollInterval": "00:00:02" }""", "/monitoring/maxLag")]
    [InlineData("monitoring", """{ "port": 9478, "maxLag": "00:01:00", "maxLagBytes": 1, "pollInterval": "00:00:02", "accessTokenSecret": { "name": "tok" } }""", "/monitoring/accessTokenSecret")]
    [InlineData("dashboard", """{ "service": { "type": "Ingress", "port": 80 } }""", "/dashboard/service/type")]
    public void Misspelt_or_out_of_range_settings_are_refused_where_they_are(string key, string json, string location)
    {
        var values = DefaultValues();
        values[key] = JsonNode.Parse(json);
        var errors = Errors(values);
        Assert.True(errors.Any(e => e.Location.StartsWith(location, StringComparison.Ordinal)), Describe(errors));
    }

    [Fact]
    public void The_security_defaults_are_non_root_and_read_only()
    {
        var values = DefaultValues();
        var pod = values["podSecurityContext"]!;
        var container = values["securityContext"]!;
        Assert.True((bool)pod["runAsNonRoot"]!);
        Assert.Equal(10001, (long)pod["runAsUser"]!);
        Assert.Equal("RuntimeDefault", (string?)pod["seccompProfile"]!["type"]);
        Assert.True((bool)container["readOnlyRootFilesystem"]!);
        Assert.False((bool)container["allowPrivilegeEscalation"]!);
        Assert.Equal(["ALL"], container["capabilities"]!["drop"]!.AsArray().Select(c => (string?)c));
        Assert.Equal(9478, (long)values["monitoring"]!["port"]!);
    }

    /// <summary>
    /// The PgMultiMaster section the ConfigMap renders from values.yaml and from each example (connection strings
    /// stand in for the Secrets) is a configuration pgmm accepts: apply and conflicts are passed through as-is.
    /// </summary>
    [Theory]
    [InlineData(null)]
    [InlineData("east-west-north.yaml")]
    public void The_rendered_configuration_passes_pgmm_validation(string? example)
    {
        var values = example is null ? DefaultValues() : ChartValues.WithExample(example);
        var section = new JsonObject
        {
            ["Cluster"] = values["cluster"]!["name"]!.DeepClone(),
            ["Nodes"] = new JsonArray([.. values["nodes"]!.AsArray().Select(n => (JsonNode)new JsonObject
            {
                ["Name"] = n!["name"]!.DeepClone(),
                ["ConnectionString"] = $"Host={(string?)n["name"]}.db;Username=pgmm",
            })]),
            ["Tables"] = values["tables"]!.DeepClone(),
            ["InsertOnlyTables"] = values["insertOnlyTables"]?.DeepClone() ?? new JsonArray(),
        };
        if (values["apply"] is JsonObject apply) section["Apply"] = apply.DeepClone();
        if (values["conflicts"] is JsonObject conflicts) section["Conflicts"] = conflicts.DeepClone();
        var json = new JsonObject { [PgMultiMasterOptions.SectionName] = section }.ToJsonString();
        var config = new ConfigurationBuilder().AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(json))).Build();
        var options = config.GetSection(PgMultiMasterOptions.SectionName).Get<PgMultiMasterOptions>()!;
        Assert.Equal(values["nodes"]!.AsArray().Count, options.Nodes.Count);
        Assert.Empty(OptionsValidator.Validate(options, requireNode: false));
    }
}
