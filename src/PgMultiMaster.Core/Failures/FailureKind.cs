namespace PgMultiMaster.Failures;

/// <summary>
/// What a failure on a link means, and so what happens next (<see cref="FailureClassifier"/> decides which it is).
/// </summary>
public enum FailureKind
{
    /// <summary>The link is stopping (or a wait was cancelled): not a failure, never retried.</summary>
    Cancelled,

    /// <summary>
    /// pgmm's guard halted the batch (<see cref="PgmmSqlStates.ConflictHalt"/>) because a change met a conflict: the
    /// transaction is sent again guarded, with the conflict resolved on the way.
    /// </summary>
    Conflict,

    /// <summary>
    /// A unique or exclusion constraint refused a change (23505, 23P01). Sent unguarded, that is how a conflict shows, like
    /// <see cref="Conflict"/>; sent guarded, the constraint is not the key and it is a <see cref="DataError"/>.
    /// </summary>
    ConstraintConflict,

    /// <summary>
    /// An unguarded batch in the middle of a transaction met a conflict (<see cref="OptimisticBatchException"/>): the
    /// whole transaction is received and sent again, guarded.
    /// </summary>
    OptimisticConflict,

    /// <summary>
    /// What is applied was refused — the data, the schema, a constraint, trigger or function of the target — not the
    /// connection or the server's state: sending the same statements again cannot help, so the transaction is replayed
    /// change by change (careful replay) and what still fails is parked.
    /// </summary>
    DataError,

    /// <summary>
    /// The connection, the server's state, a lock or a timeout, or a table not yet as the rules need it: the link backs
    /// off, reconnects and resumes from the target's durable progress. Logged in one line.
    /// </summary>
    Transient,

    /// <summary>The link reconnects at once and sends the failed transaction again, one mode safer (<see cref="ReplayException"/>).</summary>
    Replay,

    /// <summary>
    /// Retrying cannot help (<see cref="LinkStopException"/>, rules that do not fit the target, a wrong password): the
    /// link stops with a message naming the way out, until an operator acts.
    /// </summary>
    Fatal,

    /// <summary>
    /// Not known here: most likely a bug. Like <see cref="Transient"/> the link backs off (up to <c>Apply:MaxRetryDelay</c>)
    /// and resumes from durable progress, so nothing is lost or applied twice, but every attempt is logged with the
    /// stack trace, and the link's status shows it as its last error: never retried silently.
    /// </summary>
    Unexpected,
}
