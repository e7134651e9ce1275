using Microsoft.Extensions.Configuration;
using PgMultiMaster.Configuration;

namespace PgMultiMaster.Cli;

/// <summary>
/// The configuration one invocation selects: the file (<c>--config</c> or ./appsettings.json), the environment, and
/// the overrides given on the command line (<c>--PgMultiMaster:Apply:BatchSize=200</c>, <c>--node</c>, <c>--cluster</c>).
/// </summary>
internal sealed class CliConfiguration(string? configPath, IReadOnlyList<KeyValuePair<string, string?>> overrides)
{
    public string? ConfigPath { get; } = configPath;

    /// <summary>Configuration keys and values from the command line, in order: a later one wins.</summary>
    public IReadOnlyList<KeyValuePair<string, string?>> Overrides { get; } = overrides;

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
            return builder.AddEnvironmentVariables().AddInMemoryCollection(Overrides).Build();
        }
        catch (InvalidDataException e)
        {
            var cause = e.GetBaseException();
            throw new CliException($"config file '{path}' is not valid JSON: {cause.Message}");
        }
    }

    /// <summary>
    /// The PgMultiMaster section, bound and validated; errors name the key. A key that binds to nothing is an error
    /// too, wherever it came from (file, environment or command line): a misspelt setting would otherwise be ignored.
    /// </summary>
    public PgMultiMasterOptions LoadOptions(bool requireNode)
    {
        var configuration = LoadConfiguration();
        var unknown = SettingKeys.Unknown(configuration);
        PgMultiMasterOptions options;
        try
        {
            options = configuration.GetSection(PgMultiMasterOptions.SectionName).Get<PgMultiMasterOptions>() ?? new PgMultiMasterOptions();
        }
        catch (InvalidOperationException e)
        {
            var message = $"configuration: {e.Message}{(e.InnerException is null ? "" : " " + e.InnerException.Message)}";
            throw new CliException(unknown.Count == 0 ? message : new ConfigurationException([.. unknown, message]).Message);
        }
        var errors = unknown.Concat(OptionsValidator.Validate(options, requireNode)).ToList();
        if (errors.Count > 0) throw new CliException(new ConfigurationException(errors).Message);
        return options;
    }
}
