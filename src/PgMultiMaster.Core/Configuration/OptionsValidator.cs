using System.Text.RegularExpressions;

namespace PgMultiMaster.Configuration;

/// <summary>Refuses bad configuration at start with messages that name the key and what is wrong.</summary>
public static partial class OptionsValidator
{
    // Node and cluster names become parts of slot names: lower case letters, digits and underscores,
    // and slot names are limited to 63 bytes.
    [GeneratedRegex("^[a-z][a-z0-9_]{0,19}$")]
    private static partial Regex NamePattern();

    [GeneratedRegex(@"^[^.]+\..+$")]
    private static partial Regex TablePattern();

    public static IReadOnlyList<string> Validate(PgMultiMasterOptions options, bool requireNode)
    {
        var errors = new List<string>();
        const string s = PgMultiMasterOptions.SectionName;

        if (!NamePattern().IsMatch(options.Cluster))
            errors.Add($"{s}:Cluster '{options.Cluster}' must be 1-20 characters of a-z, 0-9 and _, starting with a letter.");

        if (options.Nodes.Count < 2)
            errors.Add($"{s}:Nodes must list at least two nodes (found {options.Nodes.Count}).");

        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < options.Nodes.Count; i++)
        {
            var node = options.Nodes[i];
            if (!NamePattern().IsMatch(node.Name))
                errors.Add($"{s}:Nodes:{i}:Name '{node.Name}' must be 1-20 characters of a-z, 0-9 and _, starting with a letter.");
            else if (!seen.Add(node.Name))
                errors.Add($"{s}:Nodes:{i}:Name '{node.Name}' is listed twice.");
            if (string.IsNullOrWhiteSpace(node.ConnectionString))
                errors.Add($"{s}:Nodes:{i}:ConnectionString is empty for node '{node.Name}'.");
            else
            {
                try { _ = new Npgsql.NpgsqlConnectionStringBuilder(node.ConnectionString); }
                catch (ArgumentException e) { errors.Add($"{s}:Nodes:{i}:ConnectionString of node '{node.Name}' is invalid: {e.Message}"); }
            }
        }

        if (requireNode)
        {
            if (string.IsNullOrWhiteSpace(options.Node))
                errors.Add($"{s}:Node is not set: give --node NAME (one of: {string.Join(", ", options.Nodes.Select(n => n.Name))}).");
            else if (!seen.Contains(options.Node))
                errors.Add($"{s}:Node '{options.Node}' is not one of {s}:Nodes ({string.Join(", ", options.Nodes.Select(n => n.Name))}).");
        }

        if (options.Tables.Count == 0)
            errors.Add($"{s}:Tables is empty: list the tables to replicate, e.g. \"public.*\".");
        for (var i = 0; i < options.Tables.Count; i++)
            if (!TablePattern().IsMatch(options.Tables[i]))
                errors.Add($"{s}:Tables:{i} '{options.Tables[i]}' must be schema.table (a * matches any part of a name).");
        for (var i = 0; i < options.InsertOnlyTables.Count; i++)
            if (!TablePattern().IsMatch(options.InsertOnlyTables[i]))
                errors.Add($"{s}:InsertOnlyTables:{i} '{options.InsertOnlyTables[i]}' must be schema.table (a * matches any part of a name).");

        if (options.Apply.BatchSize is < 1 or > 10_000)
            errors.Add($"{s}:Apply:BatchSize {options.Apply.BatchSize} must be between 1 and 10000.");
        if (options.Apply.FeedbackInterval <= TimeSpan.Zero)
            errors.Add($"{s}:Apply:FeedbackInterval must be positive.");
        if (options.Apply.MaxRetryDelay <= TimeSpan.Zero)
            errors.Add($"{s}:Apply:MaxRetryDelay must be positive.");

        return errors;
    }

    public static void ThrowIfInvalid(PgMultiMasterOptions options, bool requireNode)
    {
        var errors = Validate(options, requireNode);
        if (errors.Count > 0)
            throw new ConfigurationException(errors);
    }
}

/// <summary>Configuration that cannot work; the message lists every problem found.</summary>
public sealed class ConfigurationException(IReadOnlyList<string> errors)
    : Exception("Invalid configuration:" + Environment.NewLine + string.Join(Environment.NewLine, errors.Select(e => "  - " + e)))
{
    public IReadOnlyList<string> Errors { get; } = errors;
}
