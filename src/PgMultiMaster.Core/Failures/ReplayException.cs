namespace PgMultiMaster.Failures;

/// <summary>Reconnect at once and send the failed transaction again, one mode safer (<see cref="FailureKind.Replay"/>).</summary>
internal sealed class ReplayException(string message, Exception inner) : Exception(message, inner);
