using Microsoft.Extensions.Configuration;
using PgMultiMaster.Configuration;

namespace PgMultiMaster.Cli;

/// <summary>A user error with the exit code to return: 2 for configuration and prerequisites, 1 otherwise.</summary>
internal sealed class CliException(string message, int exitCode = 2) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}

/// <summary>Flags of one invocation and the configuration they select.</summary>
internal sealed class CliArgs
{
    private static readonly HashSet<string> BooleanFlags = ["--keep", "--yes", "--all", "--wait", "--json"];
    private static readonly Dictionary<string, string> SwitchMappings = new()
    {
        ["--node"] = $"{PgMultiMasterOptions.SectionName}:Node",
        ["--cluster"] = $"{PgMultiMasterOptions.SectionName}:Cluster",
        ["--seconds"] = "Demo:Seconds",
        ["--dir"] = "Demo:Dir",
        ["--port"] = "Demo:Port",
        ["--table"] = "Query:Table",
        ["--type"] = "Query:Type",
        ["--since"] = "Query:Since",
        ["--id"] = "Query:Id",
        ["--limit"] = "Query:Limit",
        ["--on"] = "Query:Node",
    };

    public string? ConfigPath { get; private init; }
    public HashSet<string> Flags { get; } = [];
    public string[] ConfigArgs { get; private init; } = [];

    public static CliArgs Parse(string[] args)
    {
        string? config = null;
        var flags = new HashSet<string>();
        var rest = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] == "--config")
            {
                if (i + 1 >= args.Length) throw new CliException("--config needs a file path.");
                config = args[++i];
            }
            else if (args[i].StartsWith("--config=", StringComparison.Ordinal)) config = args[i]["--config=".Length..];
            else if (BooleanFlags.Contains(args[i])) flags.Add(args[i]);
            else if (args[i].StartsWith("--", StringComparison.Ordinal) && !args[i].Contains('=', StringComparison.Ordinal)
                     && !SwitchMappings.ContainsKey(args[i]) && (i + 1 >= args.Length || args[i + 1].StartsWith("--", StringComparison.Ordinal)))
                throw new CliException($"unknown flag '{args[i]}' (see pgmm help).");
            else rest.Add(args[i]);
        }
        var parsed = new CliArgs { ConfigPath = config, ConfigArgs = [.. rest] };
        parsed.Flags.UnionWith(flags);
        return parsed;
    }

    public bool Has(string flag) => Flags.Contains(flag);

    /// <summary>appsettings.json (or --config), then environment variables, then flags: later sources win.</summary>
    public IConfiguration LoadConfiguration(bool requireFile = true)
    {
        var path = Path.GetFullPath(ConfigPath ?? "appsettings.json");
        if (requireFile && !File.Exists(path))
            throw new CliException(ConfigPath is null
                ? $"no appsettings.json in {Directory.GetCurrentDirectory()}; give --config PATH."
                : $"config file '{path}' does not exist.");
        try
        {
            var builder = new ConfigurationBuilder();
            if (File.Exists(path)) builder.AddJsonFile(path, optional: false, reloadOnChange: false);
            return builder.AddEnvironmentVariables().AddCommandLine(ConfigArgs, SwitchMappings).Build();
        }
        catch (InvalidDataException e)
        {
            var cause = e.GetBaseException();
            throw new CliException($"config file '{path}' is not valid JSON: {cause.Message}");
        }
        catch (FormatException e)
        {
            throw new CliException($"bad command-line arguments: {e.Message}");
        }
    }

    /// <summary>The PgMultiMaster section, bound and validated; errors name the key.</summary>
    public PgMultiMasterOptions LoadOptions(bool requireNode)
    {
        var configuration = LoadConfiguration();
        PgMultiMasterOptions options;
        try
        {
            options = configuration.GetSection(PgMultiMasterOptions.SectionName).Get<PgMultiMasterOptions>() ?? new PgMultiMasterOptions();
        }
        catch (InvalidOperationException e)
        {
            throw new CliException($"configuration: {e.Message}{(e.InnerException is null ? "" : " " + e.InnerException.Message)}");
        }
        try
        {
            OptionsValidator.ThrowIfInvalid(options, requireNode);
        }
        catch (ConfigurationException e)
        {
            throw new CliException(e.Message);
        }
        return options;
    }
}
