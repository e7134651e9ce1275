using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using PgMultiMaster.Charts;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace PgMultiMaster.Tests.Charts;

/// <summary>Paths of the Helm chart, and YAML read the way Helm reads values (plain scalars typed, quoted ones strings).</summary>
internal static partial class ChartFiles
{
    public static string Chart => Path.Combine(DashboardQueries.RepoRoot(), "charts", "pgmultimaster");

    public static string PathOf(params string[] parts) => Path.Combine([Chart, .. parts]);

    public static string Read(params string[] parts) => File.ReadAllText(PathOf(parts));

    [GeneratedRegex(@"\{\{.*?\}\}", RegexOptions.Singleline)]
    private static partial Regex TemplateAction();

    [GeneratedRegex(@"^[ \t]+$\n?", RegexOptions.Multiline)]
    private static partial Regex BlankLine();

    /// <summary>
    /// A template without its actions ({{ ... }}, {{- ... -}}, comments and multi-line blocks alike); lines left
    /// with only spaces are dropped, as they would otherwise open block scalars with stray indentation.
    /// </summary>
    public static string StripActions(string template) => BlankLine().Replace(TemplateAction().Replace(template, ""), "");

    /// <summary>Every YAML document of the text.</summary>
    public static IReadOnlyList<YamlDocument> LoadYaml(string text)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(text));
        return [.. stream.Documents];
    }

    /// <summary>The manifests of templates/NAME with its actions removed; documents that only held comments are left out.</summary>
    public static List<YamlMappingNode> TemplateManifests(string template) =>
        [.. LoadYaml(StripActions(Read("templates", template)))
            .Select(d => d.RootNode)
            .Where(n => n is not YamlScalarNode { Value: null or "" })
            .Select(n => Assert.IsType<YamlMappingNode>(n))];

    /// <summary>The one manifest of that kind in templates/NAME, as JSON.</summary>
    public static JsonObject TemplateManifest(string template, string kind) =>
        Assert.Single(TemplateManifests(template).Select(m => ToJson(m)!.AsObject()), m => (string?)m["kind"] == kind);

    /// <summary>The text of a named template ({{ define "NAME" }} ... {{ end }}) in templates/_helpers.tpl, without the define and end.</summary>
    public static string Helper(string name)
    {
        var helpers = Read("templates", "_helpers.tpl");
        var define = $"{{{{- define \"{name}\" -}}}}";
        var start = helpers.IndexOf(define, StringComparison.Ordinal);
        Assert.True(start >= 0, $"no helper {name} in _helpers.tpl");
        start += define.Length;
        // The helper's own {{- end }} is the last one before the next define.
        var next = helpers.IndexOf("{{- define ", start, StringComparison.Ordinal);
        var body = next < 0 ? helpers[start..] : helpers[start..next];
        var end = body.LastIndexOf("{{- end }}", StringComparison.Ordinal);
        Assert.True(end >= 0, $"helper {name} has no end");
        return body[..end];
    }

    /// <summary>The first document of a YAML file as JSON (null for an empty document).</summary>
    public static JsonNode? YamlFileToJson(string path)
    {
        var docs = LoadYaml(File.ReadAllText(path));
        return docs.Count == 0 ? null : ToJson(docs[0].RootNode);
    }

    public static JsonNode? ToJson(YamlNode node) => node switch
    {
        YamlMappingNode map => new JsonObject(map.Children.Select(kv =>
            KeyValuePair.Create(((YamlScalarNode)kv.Key).Value ?? "", ToJson(kv.Value)))),
        YamlSequenceNode seq => new JsonArray([.. seq.Children.Select(ToJson)]),
        YamlScalarNode scalar => Scalar(scalar),
        _ => throw new NotSupportedException($"YAML node {node.NodeType} at {node.Start}"),
    };

    [GeneratedRegex("^[-+]?[0-9]+$")]
    private static partial Regex Integer();

    [GeneratedRegex(@"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")]
    private static partial Regex Float();

    // YAML 1.2 core schema, as Helm resolves plain scalars: null, booleans, integers and floats; everything else,
    // and every quoted scalar, is a string.
    private static JsonNode? Scalar(YamlScalarNode scalar)
    {
        var value = scalar.Value ?? "";
        if (scalar.Style != ScalarStyle.Plain) return JsonValue.Create(value);
        if (value is "" or "~" or "null" or "Null" or "NULL") return null;
        if (value is "true" or "True" or "TRUE") return JsonValue.Create(true);
        if (value is "false" or "False" or "FALSE") return JsonValue.Create(false);
        if (Integer().IsMatch(value)) return JsonValue.Create(long.Parse(value, CultureInfo.InvariantCulture));
        if (Float().IsMatch(value)) return JsonValue.Create(double.Parse(value, CultureInfo.InvariantCulture));
        return JsonValue.Create(value);
    }
}
