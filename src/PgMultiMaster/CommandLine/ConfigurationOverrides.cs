namespace PgMultiMaster.Cli.CommandLine;

/// <summary>
/// Takes configuration overrides out of the arguments before System.CommandLine sees them: any
/// <c>--Section:Key=value</c> (or <c>--Section:Key value</c>), e.g. <c>--PgMultiMaster:Apply:BatchSize=200</c> or
/// <c>--Logging:LogLevel:Default=Debug</c>. They name configuration keys, not pgmm options, so no verb could declare
/// them; they go to the configuration after the file and the environment, and win over both. A token whose part
/// before the first ':' is a pgmm option (<c>--node:east</c>, System.CommandLine's own value syntax) stays an option.
/// Keys inside the PgMultiMaster section are checked like the file's (<see cref="Configuration.SettingKeys"/>).
/// </summary>
internal static class ConfigurationOverrides
{
    public sealed record Split(string[] Arguments, IReadOnlyList<KeyValuePair<string, string?>> Overrides, IReadOnlyList<string> Errors);

    public static Split Take(IReadOnlyList<string> args, IReadOnlySet<string> optionNames)
    {
        var rest = new List<string>();
        var overrides = new List<KeyValuePair<string, string?>>();
        var errors = new List<string>();
        for (var i = 0; i < args.Count; i++)
        {
            var token = args[i];
            if (token == "--")
            {
                // Everything after "--" is an argument, never an override.
                rest.AddRange(args.Skip(i));
                break;
            }
            var equals = token.IndexOf('=', StringComparison.Ordinal);
            var name = equals < 0 ? token : token[..equals];
            var colon = name.IndexOf(':', StringComparison.Ordinal);
            if (!token.StartsWith("--", StringComparison.Ordinal) || colon <= 2 || optionNames.Contains(name[..colon]))
            {
                rest.Add(token);
                continue;
            }
            var key = name[2..];
            if (equals >= 0) overrides.Add(new(key, token[(equals + 1)..]));
            else if (i + 1 < args.Count && !args[i + 1].StartsWith("--", StringComparison.Ordinal)) overrides.Add(new(key, args[++i]));
            else errors.Add($"{name} needs a value: {name}=VALUE or {name} VALUE.");
        }
        return new Split([.. rest], overrides, errors);
    }
}
