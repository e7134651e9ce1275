using System.Collections.Immutable;

namespace PgMultiMaster.Decoding;

public sealed record ColumnInfo(string Name, uint TypeOid, bool IsKey);

/// <summary>
/// Our own copy of a pgoutput Relation message: Npgsql reuses and overwrites its instance per relation id.
/// </summary>
public sealed record RelationInfo(uint Id, string Schema, string Name, ReplicaIdentity Identity, ImmutableArray<ColumnInfo> Columns)
{
    // Computed once: the apply path asks for it per change.
    public string QualifiedName { get; } = $"{Schema}.{Name}";
}

public enum ReplicaIdentity { Default, Nothing, Full, Index }
