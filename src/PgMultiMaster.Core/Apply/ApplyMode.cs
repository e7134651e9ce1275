namespace PgMultiMaster.Apply;

/// <summary>
/// How one source transaction is applied, from the fastest to the safest. A transaction starts <see cref="Optimistic"/>;
/// each kind of failure sends it again one step down, so none is retried the same way forever.
/// </summary>
public enum ApplyMode
{
    /// <summary>Insert runs may go out without conflict checks (a conflict sends the transaction again, guarded).</summary>
    Optimistic,

    /// <summary>Every statement checks for conflicts; they are resolved by the rules.</summary>
    Guarded,

    /// <summary>After an error caused by what was applied: change by change, each in a savepoint; what fails is parked.</summary>
    Careful,

    /// <summary>
    /// Even change by change the transaction could not commit (a deferred constraint, an error outside any change):
    /// every change is parked with the reason, and the origin's progress moves past it. The stream goes on.
    /// </summary>
    ParkAll,
}
