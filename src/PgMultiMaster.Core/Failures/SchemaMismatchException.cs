namespace PgMultiMaster.Failures;

/// <summary>
/// The target table cannot take what the source sent (missing table or columns): its changes are parked until the schema
/// is fixed (<see cref="FailureKind.Transient"/> should one escape).
/// </summary>
public sealed class SchemaMismatchException(string message) : Exception("schema_mismatch: " + message);
