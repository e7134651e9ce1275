namespace PgMultiMaster.Configuration;

/// <summary>The conflicts PgMultiMaster detects on the target (names as stored in <c>pgmm.conflict_log</c>).</summary>
public enum ConflictType
{
    /// <summary>An INSERT whose key is already present.</summary>
    InsertExists,
    /// <summary>An INSERT of a key that was deleted here (a tombstone exists).</summary>
    InsertDeleted,
    /// <summary>An UPDATE of a row whose local version came from another origin, concurrently.</summary>
    UpdateOriginDiffers,
    /// <summary>An UPDATE of a row that is not here (deleted concurrently, or its insert has not arrived).</summary>
    UpdateMissing,
    /// <summary>A DELETE of a row whose local version came from another origin, concurrently.</summary>
    DeleteOriginDiffers,
    /// <summary>A DELETE of a row that is not here.</summary>
    DeleteMissing,
    /// <summary>A unique constraint other than the key rejects the change.</summary>
    UniqueViolation,
    /// <summary>The target table lacks the table, columns or types the source sent.</summary>
    SchemaMismatch,
}

public static class ConflictTypeNames
{
    public static string Name(this ConflictType type) => type switch
    {
        ConflictType.InsertExists => "insert_exists",
        ConflictType.InsertDeleted => "insert_deleted",
        ConflictType.UpdateOriginDiffers => "update_origin_differs",
        ConflictType.UpdateMissing => "update_missing",
        ConflictType.DeleteOriginDiffers => "delete_origin_differs",
        ConflictType.DeleteMissing => "delete_missing",
        ConflictType.UniqueViolation => "unique_violation",
        ConflictType.SchemaMismatch => "schema_mismatch",
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    };

    public static IReadOnlyList<string> All { get; } = Enum.GetValues<ConflictType>().Select(Name).ToList();

    public static ConflictType? Parse(string name) => Enum.GetValues<ConflictType>().Cast<ConflictType?>().FirstOrDefault(t => t!.Value.Name() == name);
}

/// <summary>Resolution strategies, usable as the default, per table, per column (some) and per conflict type.</summary>
public enum Strategy
{
    LastWriterWins,
    FirstWriterWins,
    ApplyRemote,
    KeepLocal,
    NodePriority,
    Delta,
    ColumnMerge,
    Function,
    DeadLetter,
}
