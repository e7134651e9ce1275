using System.CommandLine;
using System.CommandLine.Parsing;
using PgMultiMaster.Configuration;

namespace PgMultiMaster.Cli.CommandLine;

/// <summary>
/// System.CommandLine's parse errors in pgmm's words: an unknown verb, action or option names the nearest valid one.
/// </summary>
internal static class UsageErrors
{
    public static IEnumerable<string> Describe(ParseResult result)
    {
        // "pgmm node remove --help" shows help, though the node's NAME is missing.
        if (result.Action is HelpText && result.UnmatchedTokens.Count == 0) yield break;
        var command = result.CommandResult.Command;
        var unmatched = result.UnmatchedTokens.ToHashSet(StringComparer.Ordinal);
        var previousWasOption = false;
        foreach (var token in result.UnmatchedTokens)
        {
            var isOption = token.StartsWith('-');
            // "--nod east": east is the unknown option's value; one message is enough.
            if (!isOption && previousWasOption)
            {
                previousWasOption = false;
                continue;
            }
            previousWasOption = isOption;
            yield return isOption ? UnknownOption(token, result.CommandResult) : UnknownWord(token, command);
        }
        foreach (var error in result.Errors)
        {
            if (unmatched.Any(t => error.Message.Contains($"'{t}'", StringComparison.Ordinal))) continue;
            var message = error.SymbolResult switch
            {
                OptionResult { Tokens.Count: 0 } o when o.Option.Arity.MinimumNumberOfValues > 0 => $"{o.Option.Name} needs a value ({o.Option.HelpName}).",
                OptionResult o when error.Message.StartsWith("Cannot parse", StringComparison.Ordinal) =>
                    $"{o.Option.Name} '{string.Join(' ', o.Tokens.Select(t => t.Value))}': give a number.",
                // "Required command was not provided": pgmm alone shows help, and dead-letter alone lists.
                CommandResult { Command: Verb { Run: not null } } => null,
                ArgumentResult { Argument: var a, Tokens.Count: 0 } when a.Arity.MinimumNumberOfValues > 0 => $"give {a.Name}.",
                // "pgmm node" alone: a group of actions with nothing to do by itself.
                CommandResult { Command: Verb { Run: null } group } => $"give an action ({string.Join(", ", group.Subcommands.Select(c => c.Name))}).",
                CommandResult { Command: RootCommand } => unmatched.Count > 0 ? null : "give a verb (see pgmm --help).",
                _ => error.Message,
            };
            if (message is not null) yield return message;
        }
    }

    private static string UnknownOption(string token, CommandResult where)
    {
        var name = token.Split('=', ':')[0];
        var valid = Visible(where).SelectMany(o => o.Aliases.Prepend(o.Name)).Where(n => n.StartsWith("--", StringComparison.Ordinal)).ToList();
        return Suggest($"unknown option '{name}'", name, valid);
    }

    private static string UnknownWord(string token, Command command)
    {
        var subcommands = command.Subcommands.Where(c => !c.Hidden).Select(c => c.Name).ToList();
        if (subcommands.Count == 0) return $"unexpected argument '{token}'.";
        return Suggest(command is RootCommand ? $"unknown verb '{token}'" : $"unknown action '{token}'", token, subcommands);
    }

    /// <summary>"did you mean" when a name is close (a typo); otherwise the list to choose from.</summary>
    private static string Suggest(string what, string given, IReadOnlyList<string> valid)
    {
        var nearest = Nearest.Of(given, valid);
        if (nearest is not null && Nearest.EditDistance(given.ToUpperInvariant(), nearest.ToUpperInvariant()) <= Math.Max(2, given.Length / 3))
            return $"{what}; did you mean '{nearest}'?";
        return $"{what} (one of {string.Join(", ", valid)}).";
    }

    /// <summary>The options this command takes: its own and those its ancestors give to every verb.</summary>
    private static IEnumerable<Option> Visible(CommandResult where)
    {
        var own = where.Command.Options.Where(o => !o.Hidden);
        var inherited = new List<Option>();
        for (var parent = where.Parent as CommandResult; parent is not null; parent = parent.Parent as CommandResult)
            inherited.AddRange(parent.Command.Options.Where(o => o.Recursive && !o.Hidden));
        return own.Concat(inherited).Distinct();
    }
}
