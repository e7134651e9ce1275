using System.Net;
using System.Text.RegularExpressions;
using PgMultiMaster.Conflicts;

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

    /// <param name="requireNode">True for the worker (<c>pgmm run</c>): it needs its node, and it serves HTTP.</param>
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
                // Not the parser's message: a password with an unquoted ';' would show up in it as an unknown keyword.
                catch (ArgumentException) { errors.Add($"{s}:Nodes:{i}:ConnectionString of node '{node.Name}' is not a valid Npgsql connection string: a keyword it does not know or a value it cannot read (put values that contain ';' in double quotes)."); }
            }
        }

        // Names are joined with '_', which names may also contain: two links must never make the same slot name.
        var slots = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var source in options.Nodes.Where(n => NamePattern().IsMatch(n.Name)))
            foreach (var target in options.Nodes.Where(n => n != source && NamePattern().IsMatch(n.Name)))
            {
                var slot = $"{options.Cluster}_{source.Name}_{target.Name}";
                if (slots.TryGetValue(slot, out var other))
                    errors.Add($"{s}:Nodes: the links {other} and {source.Name}->{target.Name} would both use the slot {slot}; rename one of the nodes.");
                else slots[slot] = $"{source.Name}->{target.Name}";
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
        for (var i = 0; i < options.NoTruncateTables.Count; i++)
            if (!TablePattern().IsMatch(options.NoTruncateTables[i]))
                errors.Add($"{s}:NoTruncateTables:{i} '{options.NoTruncateTables[i]}' must be schema.table (a * matches any part of a name).");

        if (options.Apply.BatchSize is < 1 or > 10_000)
            errors.Add($"{s}:Apply:BatchSize {options.Apply.BatchSize} must be between 1 and 10000.");
        if (options.Apply.FeedbackInterval <= TimeSpan.Zero)
            errors.Add($"{s}:Apply:FeedbackInterval must be positive.");
        if (options.Apply.MaxRetryDelay <= TimeSpan.Zero)
            errors.Add($"{s}:Apply:MaxRetryDelay must be positive.");
        if (options.Apply.MaxBufferedBytes < 1 << 20)
            errors.Add($"{s}:Apply:MaxBufferedBytes {options.Apply.MaxBufferedBytes} must be at least 1048576 (1 MiB).");
        if (options.Apply.DeadConnectionTimeout < TimeSpan.FromSeconds(1) || options.Apply.DeadConnectionTimeout > TimeSpan.FromDays(1))
            errors.Add($"{s}:Apply:DeadConnectionTimeout {options.Apply.DeadConnectionTimeout} must be between 00:00:01 and 1.00:00:00.");
        var m = options.Monitoring;
        foreach (var url in Urls(m))
            if (!Uri.TryCreate(url.Replace("*", "localhost", StringComparison.Ordinal).Replace("+", "localhost", StringComparison.Ordinal), UriKind.Absolute, out var uri) || uri.Scheme != "http")
                errors.Add($"{s}:Monitoring:Urls '{url}' must be an http:// URL such as http://0.0.0.0:9478 (no TLS: put a TLS proxy or the cluster's ingress in front).");
        // Only the worker (run) serves HTTP. /api/* shows rows and errors: not to the whole network unless asked for.
        if (requireNode && string.IsNullOrWhiteSpace(m.AccessToken) && !m.AllowAnonymous && Urls(m).FirstOrDefault(u => !IsLoopback(u)) is { } open)
            errors.Add($"{s}:Monitoring:AccessToken must be set: {s}:Monitoring:Urls '{open}' serves /api/* (rows, errors) beyond this machine. " +
                       $"Set it (env PgMultiMaster__Monitoring__AccessToken), bind 127.0.0.1, or set {s}:Monitoring:AllowAnonymous: true to serve /api/* to anyone who reaches it.");
        if (m.MaxLag <= TimeSpan.Zero) errors.Add($"{s}:Monitoring:MaxLag must be positive.");
        if (m.MaxLagBytes <= 0) errors.Add($"{s}:Monitoring:MaxLagBytes must be positive.");
        if (m.MaxWalRetainedBytes <= 0) errors.Add($"{s}:Monitoring:MaxWalRetainedBytes must be positive.");
        if (m.PollInterval <= TimeSpan.Zero) errors.Add($"{s}:Monitoring:PollInterval must be positive.");

        ValidateConflicts(options, errors);
        ValidateSequences(options, errors);
        return errors;
    }

    private static string[] Urls(MonitoringOptions m) =>
        string.IsNullOrWhiteSpace(m.Urls) ? [] : m.Urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>
    /// Whether a URL of <c>Monitoring:Urls</c> binds this machine only: localhost, 127.0.0.0/8 or [::1]. Kestrel binds
    /// every interface for 0.0.0.0, [::], * and + and for any host name, so those are reachable from elsewhere.
    /// </summary>
    private static bool IsLoopback(string url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri)
        && (uri.Host == "localhost" || IPAddress.TryParse(uri.Host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));

    private static readonly HashSet<string> RowOnly = [nameof(Strategy.Function), nameof(Strategy.DeadLetter)];
    private static readonly HashSet<string> ColumnWise = [nameof(Strategy.Delta), nameof(Strategy.ColumnMerge)];

    private static void ValidateConflicts(PgMultiMasterOptions options, List<string> errors)
    {
        const string s = PgMultiMasterOptions.SectionName + ":Conflicts";
        var c = options.Conflicts;
        var nodes = options.Nodes.Select(n => n.Name).ToHashSet();
        if (c.Default.Strategy is null)
            errors.Add($"{s}:Default:Strategy must be set (LastWriterWins unless you choose otherwise).");
        ValidateRule(c.Default, $"{s}:Default", nodes, errors);
        if (c.Default.Strategy == nameof(Strategy.Delta) || c.Default.Types.ContainsValue(nameof(Strategy.Delta)))
            errors.Add($"{s}:Default: Delta is for counter columns: set it per column ({s}:Tables:<table>:Columns) or as a table's Strategy.");
        foreach (var (table, rule) in c.Tables)
        {
            var key = $"{s}:Tables:{table}";
            if (!TablePattern().IsMatch(table) || table.Contains('*', StringComparison.Ordinal))
                errors.Add($"{key}: '{table}' must be a schema.table name (no patterns).");
            ValidateRule(rule, key, nodes, errors);
            var used = rule.Types.Values.Append(rule.Strategy ?? "").Concat(rule.Columns.Values).ToList();
            if (used.Contains(nameof(Strategy.NodePriority)) && rule.Priority.Count == 0 && c.Default.Priority.Count == 0)
                errors.Add($"{key}:Priority must list the nodes in order of precedence for NodePriority.");
            if (used.Contains(nameof(Strategy.Function)) && rule.Function is null && c.Default.Function is null)
                errors.Add($"{key}:Function must name the resolver function as schema.name for the Function strategy.");
            foreach (var (column, strategy) in rule.Columns)
            {
                if (!IsStrategy(strategy))
                    errors.Add($"{key}:Columns:{column}: unknown strategy '{strategy}' (one of {string.Join(", ", ConflictRule.Strategies)}).");
                else if (RowOnly.Contains(strategy))
                    errors.Add($"{key}:Columns:{column}: {strategy} decides whole rows; it cannot be a column rule.");
            }
        }
        if (c.MaxClockSkew < TimeSpan.Zero) errors.Add($"{s}:MaxClockSkew must not be negative.");
        if (c.LogRetention <= TimeSpan.Zero) errors.Add($"{s}:LogRetention must be positive.");
        if (c.RetryInterval <= TimeSpan.Zero) errors.Add($"{s}:RetryInterval must be positive.");
        if (c.HousekeepingInterval <= TimeSpan.Zero) errors.Add($"{s}:HousekeepingInterval must be positive.");
    }

    private static void ValidateRule(ConflictRule rule, string key, HashSet<string> nodes, List<string> errors)
    {
        if (rule.Strategy is not null && !IsStrategy(rule.Strategy))
            errors.Add($"{key}:Strategy: unknown strategy '{rule.Strategy}' (one of {string.Join(", ", ConflictRule.Strategies)}).");
        var strategies = new List<(string Key, string Strategy)>();
        if (rule.Strategy is not null) strategies.Add(($"{key}:Strategy", rule.Strategy));
        foreach (var (type, strategy) in rule.Types)
        {
            var typeKey = $"{key}:Types:{type}";
            var parsed = ConflictTypeNames.Parse(type);
            if (parsed is null)
                errors.Add($"{typeKey}: unknown conflict type '{type}' (one of {string.Join(", ", ConflictTypeNames.All)}).");
            if (!IsStrategy(strategy))
                errors.Add($"{typeKey}: unknown strategy '{strategy}' (one of {string.Join(", ", ConflictRule.Strategies)}).");
            else if (strategy == nameof(Strategy.Delta))
                errors.Add($"{typeKey}: Delta is for counter columns: set it per column or as the table's Strategy.");
            else if (ColumnWise.Contains(strategy) && parsed is not (ConflictType.UpdateOriginDiffers or null))
                errors.Add($"{typeKey}: {strategy} merges the columns of two versions of a row; {type} has no two versions to merge.");
            strategies.Add((typeKey, strategy));
        }
        if (strategies.Any(x => x.Strategy == nameof(Strategy.NodePriority)))
        {
            if (rule.Priority.Count == 0 && key.EndsWith(":Default", StringComparison.Ordinal))
                errors.Add($"{key}:Priority must list the nodes in order of precedence for NodePriority.");
            foreach (var unknown in rule.Priority.Where(n => !nodes.Contains(n)))
                errors.Add($"{key}:Priority names node '{unknown}', which is not in {PgMultiMasterOptions.SectionName}:Nodes.");
        }
        if (strategies.Any(x => x.Strategy == nameof(Strategy.Function)) && rule.Function is not null && !TablePattern().IsMatch(rule.Function))
            errors.Add($"{key}:Function must name the resolver function as schema.name.");
        if (strategies.Any(x => x.Strategy == nameof(Strategy.Function)) && rule.Function is null && key.EndsWith(":Default", StringComparison.Ordinal))
            errors.Add($"{key}:Function must name the resolver function as schema.name for the Function strategy.");
    }

    private static void ValidateSequences(PgMultiMasterOptions options, List<string> errors)
    {
        const string s = PgMultiMasterOptions.SectionName + ":Sequences";
        var q = options.Sequences;
        if (!Enum.GetNames<SequenceStrategy>().Contains(q.Strategy, StringComparer.OrdinalIgnoreCase))
            errors.Add($"{s}:Strategy '{q.Strategy}' is not one of {string.Join(", ", Enum.GetNames<SequenceStrategy>())}.");
        if (q.MaxNodes is < 2 or > 1 << SequenceOptions.SnowflakeNodeBits)
            errors.Add($"{s}:MaxNodes {q.MaxNodes} must be between 2 and {1 << SequenceOptions.SnowflakeNodeBits}.");
        else if (q.Chosen() == SequenceStrategy.Interleave && options.Nodes.Count > q.MaxNodes)
            errors.Add($"{s}:MaxNodes {q.MaxNodes} is below the {options.Nodes.Count} nodes of {PgMultiMasterOptions.SectionName}:Nodes: " +
                       "each node needs an offset of its own below MaxNodes (and leave room for the nodes you will add).");
        if (q.Chosen() == SequenceStrategy.Snowflake && options.Nodes.Count > 1 << SequenceOptions.SnowflakeNodeBits)
            errors.Add($"{s}:Strategy Snowflake holds node numbers below {1 << SequenceOptions.SnowflakeNodeBits}; {PgMultiMasterOptions.SectionName}:Nodes lists {options.Nodes.Count}.");
    }

    private static bool IsStrategy(string name) => ConflictRule.Strategies.Contains(name);

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
