using System.Text.Json;
using System.Text.Json.Nodes;
using Json.Schema;

namespace PgMultiMaster.Tests.Charts;

/// <summary>The chart's values.yaml, Helm's merge of values files, and values.schema.json's verdict on values.</summary>
internal static class ChartValues
{
    private static readonly Lazy<JsonSchema> Schema = new(() => JsonSchema.FromText(ChartFiles.Read("values.schema.json")));

    public static JsonObject Defaults() => (JsonObject)ChartFiles.YamlFileToJson(ChartFiles.PathOf("values.yaml"))!;

    /// <summary>values.yaml with an example file of the chart merged over it, as `helm install -f` does.</summary>
    public static JsonObject WithExample(string example) =>
        Merge(Defaults(), ChartFiles.YamlFileToJson(ChartFiles.PathOf("examples", example))!.AsObject());

    /// <summary>(instance location, message) of every error that makes the values invalid.</summary>
    public static List<(string Location, string Message)> Errors(JsonNode values)
    {
        using var doc = JsonDocument.Parse(values.ToJsonString());
        var result = Schema.Value.Evaluate(doc.RootElement, new EvaluationOptions { OutputFormat = OutputFormat.Hierarchical });
        var errors = new List<(string, string)>();
        Collect(result, errors);
        Assert.True(result.IsValid == (errors.Count == 0), $"valid: {result.IsValid}, errors: {Describe(errors)}");
        return errors;
    }

    // Only failing results, and only below failing results: a passing anyOf or not keeps the errors of its
    // failing branches in the output, and those do not make the values invalid.
    private static void Collect(EvaluationResults result, List<(string, string)> errors)
    {
        if (result.IsValid) return;
        var before = errors.Count;
        if (result.Errors is not null)
            foreach (var (keyword, message) in result.Errors)
                errors.Add((result.InstanceLocation.ToString(), $"{keyword}: {message}"));
        if (result.Details is not null)
            foreach (var detail in result.Details)
                Collect(detail, errors);
        // A keyword that fails without a message of its own (e.g. not) is named by its schema path.
        if (errors.Count == before)
            errors.Add((result.InstanceLocation.ToString(), $"{result.EvaluationPath} failed"));
    }

    public static string Describe(IEnumerable<(string Location, string Message)> errors) =>
        string.Join(Environment.NewLine, errors.Select(e => $"{(e.Location.Length == 0 ? "(root)" : e.Location)}: {e.Message}"));

    public static void AssertValid(JsonNode values)
    {
        var errors = Errors(values);
        Assert.True(errors.Count == 0, Describe(errors));
    }

    public static void AssertInvalidAt(JsonNode values, string location, string? mentioning = null)
    {
        var errors = Errors(values);
        Assert.NotEmpty(errors);
        Assert.True(errors.Any(e => e.Location == location && (mentioning is null || e.Message.Contains(mentioning, StringComparison.Ordinal))),
            $"expected an error at '{location}'{(mentioning is null ? "" : $" mentioning '{mentioning}'")}, got:{Environment.NewLine}{Describe(errors)}");
    }

    /// <summary>Helm's merge of a values file over values.yaml: maps merge key by key, null removes, anything else replaces.</summary>
    public static JsonObject Merge(JsonObject baseValues, JsonObject overrides)
    {
        var merged = baseValues.DeepClone().AsObject();
        foreach (var (key, value) in overrides)
        {
            if (value is null) merged.Remove(key);
            else if (value is JsonObject o && merged[key] is JsonObject b) merged[key] = Merge(b, o);
            else merged[key] = value.DeepClone();
        }
        return merged;
    }
}
