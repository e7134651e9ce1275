using Npgsql;

namespace PgMultiMaster.Failures;

/// <summary>Change number <paramref name="ordinal"/> of a careful replay failed and took the connection with it.</summary>
internal sealed class PoisonedChangeException(int ordinal, PostgresException inner) : Exception(inner.Message, inner)
{
    public int Ordinal { get; } = ordinal;
    public PostgresException Error { get; } = inner;
}
