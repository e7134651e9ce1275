namespace PgMultiMaster.Replication;

/// <summary>
/// A failure that retrying cannot fix: the link stops in <paramref name="state"/> with a critical log line naming the
/// way out, and stays stopped until an operator acts and restarts the worker (the worker's other links go on). Rules
/// that do not fit the target, a wrong password and a certificate that does not verify end this way too.
/// </summary>
public sealed class LinkStopException(string message, LinkState state = LinkState.Failed, Exception? inner = null) : Exception(message, inner)
{
    public LinkState State { get; } = state;
}
