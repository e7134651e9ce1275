using PgMultiMaster.Configuration;

namespace PgMultiMaster.Conflicts;

/// <summary>
/// Decides conflicts by the configured rules. Pure: everything it needs is in the <see cref="Conflict"/>, so
/// every strategy × conflict type is testable without a database.
/// </summary>
public static class ConflictResolver
{
    public static Resolution Resolve(Conflict c, TableRules rules)
    {
        var (strategy, rule, scope) = rules.For(c.Type);
        if (c.Type == ConflictType.SchemaMismatch || strategy == Strategy.DeadLetter)
            return new Resolution(Outcome.DeadLetter, c.Type == ConflictType.SchemaMismatch ? "schema_mismatch is always parked" : scope);
        if (strategy == Strategy.Function)
            return new Resolution(Outcome.CallFunction, $"{scope} ({rule.Function})");

        switch (c.Type)
        {
            case ConflictType.UniqueViolation:
                // Another row holds the unique value: no version order settles that safely.
                return strategy == Strategy.KeepLocal ? new Resolution(Outcome.KeepLocal, scope)
                    : new Resolution(Outcome.DeadLetter, $"{scope}; unique_violation is parked unless KeepLocal");
            case ConflictType.DeleteMissing:
                return new Resolution(Outcome.KeepLocal, $"{scope}; nothing to delete");
            case ConflictType.UpdateOriginDiffers:
                return ResolveColumns(c, rules, strategy, rule.Priority, scope);
            default:
                // insert_exists, insert_deleted, update_missing, delete_origin_differs: whole-row decisions.
                // Column-wise strategies have no two versions to merge here and fall back to last writer wins.
                return new Resolution(RemoteWins(strategy, c, rule.Priority) ? Outcome.ApplyRemote : Outcome.KeepLocal, scope);
        }
    }

    private static Resolution ResolveColumns(Conflict c, TableRules rules, Strategy strategy, IReadOnlyList<string> priority, string scope)
    {
        var columns = c.Relation.Columns;
        var sources = new ColumnSource[columns.Length];
        var notes = new List<string> { scope };
        for (var i = 0; i < columns.Length; i++)
        {
            var columnStrategy = strategy;
            if (rules.Columns.TryGetValue(columns[i].Name, out var s))
            {
                columnStrategy = Enum.Parse<Strategy>(s);
                notes.Add($"{columns[i].Name}: {s}");
            }
            sources[i] = columns[i].IsKey && columnStrategy is Strategy.Delta or Strategy.ColumnMerge
                ? ColumnSource.Remote
                : Column(columnStrategy, c, i, priority);
            // An unchanged TOAST value was not sent: the remote side did not change it.
            if (sources[i] == ColumnSource.Remote && c.RemoteNew![i].IsUnchanged) sources[i] = ColumnSource.Local;
        }
        var rule = string.Join("; ", notes.Distinct());
        if (sources.All(x => x == ColumnSource.Remote)) return new Resolution(Outcome.ApplyRemote, rule);
        if (sources.All(x => x == ColumnSource.Local)) return new Resolution(Outcome.KeepLocal, rule);
        return new Resolution(Outcome.Merge, rule, sources);
    }

    private static ColumnSource Column(Strategy strategy, Conflict c, int i, IReadOnlyList<string> priority)
    {
        switch (strategy)
        {
            case Strategy.Delta:
                return c.RemoteOld is null ? ColumnSource.Remote : ColumnSource.Delta;
            case Strategy.ColumnMerge:
            {
                // Three-way merge with the remote old row as the base.
                if (c.RemoteOld is null || c.Local is null) return RemoteWins(Strategy.LastWriterWins, c, priority) ? ColumnSource.Remote : ColumnSource.Local;
                var baseValue = c.RemoteOld[i].Text;
                var remoteChanged = !c.RemoteNew![i].IsUnchanged && c.RemoteNew[i].Text != baseValue;
                var localChanged = c.Local[i] != baseValue;
                if (!remoteChanged) return ColumnSource.Local;
                if (!localChanged) return ColumnSource.Remote;
                return RemoteWins(Strategy.LastWriterWins, c, priority) ? ColumnSource.Remote : ColumnSource.Local;
            }
            default:
                return RemoteWins(strategy, c, priority) ? ColumnSource.Remote : ColumnSource.Local;
        }
    }

    /// <summary>Whether the remote version wins the row under a whole-row strategy.</summary>
    private static bool RemoteWins(Strategy strategy, Conflict c, IReadOnlyList<string> priority) => strategy switch
    {
        Strategy.ApplyRemote => true,
        Strategy.KeepLocal => false,
        // Nothing local to be first against (an update whose row never arrived): the remote change is all there is.
        Strategy.FirstWriterWins => c.LocalVersion is null || c.LocalVersion.IsNewerThan(c.RemoteVersion),
        Strategy.NodePriority => c.LocalVersion is null || Rank(c.RemoteVersion.Node, priority) < Rank(c.LocalVersion.Node, priority)
                                 || (Rank(c.RemoteVersion.Node, priority) == Rank(c.LocalVersion.Node, priority) && c.RemoteVersion.IsNewerThan(c.LocalVersion)),
        _ => c.RemoteVersion.IsNewerThan(c.LocalVersion),
    };

    // Listed nodes by position; unlisted ones after them, all equal (then the newer version wins).
    private static int Rank(string node, IReadOnlyList<string> priority)
    {
        for (var i = 0; i < priority.Count; i++)
            if (priority[i] == node) return i;
        return int.MaxValue;
    }
}
