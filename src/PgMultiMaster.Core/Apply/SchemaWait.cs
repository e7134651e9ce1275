namespace PgMultiMaster.Apply;

/// <summary>
/// How long a link waits for a table or column its target lacks before it parks the changes that need it. With three
/// nodes or more, a schema change made on east may reach west later than the rows north wrote after it had applied the
/// change: the north→west link then meets a column west does not have yet. It is on its way, so the link backs off and
/// reads the transaction again (nothing is parked, order is kept) until the change has arrived; past
/// <see cref="Grace"/> the table really differs, and its changes are parked (schema_mismatch) as before. Kept by the
/// link across its reconnects. Decides only.
/// </summary>
public sealed class SchemaWait(TimeSpan grace, TimeProvider time)
{
    private readonly Dictionary<string, DateTimeOffset> _since = [];

    public TimeSpan Grace { get; } = grace;

    /// <summary>True while the link should wait (and read again) rather than park the changes of <paramref name="table"/>.</summary>
    public bool ShouldWait(string table)
    {
        var now = time.GetUtcNow();
        if (!_since.TryGetValue(table, out var since)) _since[table] = since = now;
        return now - since < Grace;
    }

    /// <summary>The table now takes what the source sends.</summary>
    public void Fits(string table) => _since.Remove(table);
}
