namespace PgMultiMaster.Apply;

/// <summary>Source commit → target commit of the last applied transaction, and when that was.</summary>
public sealed record LastApply(TimeSpan Delay, DateTimeOffset At);
