using System.CommandLine;
using System.Globalization;

namespace PgMultiMaster.Cli.CommandLine;

/// <summary>The options verbs share, made anew for each verb that takes them (a verb's help lists only its own).</summary>
internal static class Options
{
    /// <summary>Given before or after the verb; every verb but demo reads the file.</summary>
    public static Option<string> Config() =>
        new("--config") { HelpName = "PATH", Recursive = true, Description = "The configuration file (default: ./appsettings.json)." };

    /// <summary>Accepted by every verb, as before: it sets PgMultiMaster:Node, which only run uses.</summary>
    public static Option<string> Node() =>
        new("--node") { HelpName = "NAME", Recursive = true, Description = "The node this worker runs beside (run); sets PgMultiMaster:Node." };

    public static Option<string> Cluster() =>
        new("--cluster") { HelpName = "NAME", Recursive = true, Description = "Sets PgMultiMaster:Cluster." };

    public static Option<string> On() => Text("--on", "NODE", "Only this node.");

    public static Option<string> Text(string name, string helpName, string description) =>
        new(name) { HelpName = helpName, Description = description };

    /// <summary>One of <paramref name="values"/>; anything else is a usage error that lists them.</summary>
    public static Option<string> Choice(string name, string helpName, string description, string defaultValue, params string[] values)
    {
        var option = new Option<string>(name) { HelpName = helpName, Description = description, DefaultValueFactory = _ => defaultValue };
        option.AcceptOnlyFromAmong(values);
        return option;
    }

    public static Option<bool> Flag(string name, string description) => new(name) { Description = description };

    public static Option<int> Number(string name, string helpName, string description, int defaultValue, int min, int max)
    {
        var option = new Option<int>(name) { HelpName = helpName, Description = description, DefaultValueFactory = _ => defaultValue };
        option.Validators.Add(r =>
        {
            // A value that is not a number at all is the parser's error already.
            if (r.Tokens is [var token] && int.TryParse(token.Value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && (n < min || n > max))
                r.AddError(max == int.MaxValue ? $"{name} {n}: give a number of at least {min}." : $"{name} {n}: give a number from {min} to {max}.");
        });
        return option;
    }
}
