namespace PgMultiMaster.Failures;

/// <summary>
/// The SQLSTATEs pgmm's own SQL raises (<c>sql/*.sql</c>, <c>RAISE … USING ERRCODE</c>). Class PM is not one PostgreSQL
/// defines, so no server error is ever mistaken for one of these.
/// </summary>
public static class PgmmSqlStates
{
    /// <summary>
    /// <c>pgmm.assert_not_halted</c>: a statement of the batch met a conflict and set <c>pgmm.halt</c>, so the rest of
    /// the batch (and its COMMIT) must not happen.
    /// </summary>
    public const string ConflictHalt = "PM001";
}
