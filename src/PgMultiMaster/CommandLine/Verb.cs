using System.CommandLine;

namespace PgMultiMaster.Cli.CommandLine;

/// <summary>
/// A pgmm verb: its options, its help, and what it runs. The run is kept here rather than as a System.CommandLine
/// action so that usage errors are ours to report (exit 2, with a suggestion) before anything runs, and so that
/// parsing is tested without running a verb.
/// </summary>
internal sealed class Verb(string name, string description) : Command(name, description)
{
    public Func<ParseResult, CliConfiguration, CancellationToken, Task<int>>? Run { get; set; }

    /// <summary>What error messages start with: <c>pgmm dead-letter</c> for every dead-letter action, as before.</summary>
    public string Prefix => Parents.OfType<Verb>().FirstOrDefault() is { } parent ? parent.Prefix : $"pgmm {Name}";
}
