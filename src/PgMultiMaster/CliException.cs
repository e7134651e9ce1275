namespace PgMultiMaster.Cli;

/// <summary>A user error with the exit code to return: 2 for usage, configuration and prerequisites, 1 otherwise.</summary>
internal sealed class CliException(string message, int exitCode = 2) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}
