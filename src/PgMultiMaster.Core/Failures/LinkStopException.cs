namespace PgMultiMaster.Failures;

/// <summary>
/// A failure that retrying cannot fix (<see cref="FailureKind.Fatal"/>): the link stops with a critical log line naming
/// the way out, and stays stopped until an operator acts and restarts the worker (the worker's other links go on).
/// Rules that do not fit the target, a wrong password and a certificate that does not verify end this way too.
/// </summary>
/// <param name="slotLost">The source's slot was dropped or invalidated and what it held is gone (state <c>slot_lost</c>,
/// else <c>down</c>).</param>
public sealed class LinkStopException(string message, bool slotLost = false, Exception? inner = null) : Exception(message, inner)
{
    public bool SlotLost { get; } = slotLost;
}
