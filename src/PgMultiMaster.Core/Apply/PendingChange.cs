using PgMultiMaster.Decoding;

namespace PgMultiMaster.Apply;

/// <summary>
/// A change of the transaction being applied, not yet sent: applied to its table, or — with <see cref="Park"/> — written
/// to the dead-letter table instead. A struct: a transaction held in memory costs nothing per change beyond the change.
/// </summary>
internal readonly record struct PendingChange(RowChange Change, ParkRequest? Park = null)
{
    public static PendingChange Parked(ParkRequest park) => new(park.Change, park);

    public bool IsParked => Park is not null;
}
