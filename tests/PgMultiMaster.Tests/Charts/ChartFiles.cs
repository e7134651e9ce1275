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
