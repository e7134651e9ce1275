using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;

namespace PgMultiMaster.Cli.CommandLine;

/// <summary>System.CommandLine's help, and after the root's what holds for every verb: configuration and exit codes.</summary>
internal sealed class HelpText : SynchronousCommandLineAction
{
    public const string Epilogue = """
        The configuration is ./appsettings.json (section PgMultiMaster) or --config PATH; any key can be overridden by
        environment variables (PgMultiMaster__Node=east) or flags (--PgMultiMaster:Apply:BatchSize=200). A key that is
        not a setting is refused.
        Exit codes: 0 success, 1 failure or nodes differ, 2 bad configuration, unmet prerequisites or a usage error.
        """;

    // A fixed width: the same help in a terminal, a pipe and a test.
    private readonly HelpAction _help = new() { MaxWidth = 120 };

    public override int Invoke(ParseResult parseResult)
    {
        _help.Invoke(parseResult);
        if (parseResult.CommandResult.Command is RootCommand)
            parseResult.InvocationConfiguration.Output.WriteLine(Epilogue);
        return 0;
    }
}
