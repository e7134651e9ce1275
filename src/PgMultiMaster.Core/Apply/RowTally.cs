using PgMultiMaster.Decoding;

namespace PgMultiMaster.Apply;

/// <summary>Row changes sent inside the open target transaction: counted only if it commits.</summary>
internal sealed class RowTally
{
    public Dictionary<(string Table, ChangeKind Kind), long> Counts { get; } = [];

    /// <summary>Changes parked (written to the dead-letter table) inside the open transaction.</summary>
    public int Parked { get; set; }

    /// <summary>Counts the row changes (and parked changes) among the first <paramref name="count"/> items.</summary>
    public void Add(IReadOnlyList<PendingChange> items, int count)
    {
        for (var i = 0; i < count; i++)
            if (items[i].IsParked) Parked++;
        foreach (var (c, n) in LinkCounters.Runs(items, count))
            Counts[(c.Relation.QualifiedName, c.Kind)] = Counts.GetValueOrDefault((c.Relation.QualifiedName, c.Kind)) + n;
    }

    /// <summary>Conflicts resolved inside the open transaction.</summary>
    public List<(RowChange Change, string Type, string Resolution)> Conflicts { get; } = [];

    public void AddConflict(RowChange change, string type, string resolution) => Conflicts.Add((change, type, resolution));

    /// <summary>A change counted as sent was parked instead (by the slow path, without a conflict).</summary>
    public void ParkedInstead(RowChange change)
    {
        Parked++;
        Counts[(change.Relation.QualifiedName, change.Kind)] = Counts.GetValueOrDefault((change.Relation.QualifiedName, change.Kind)) - 1;
    }

    /// <summary>Forgets the rows and parked changes (counted another way), keeps the conflicts.</summary>
    public void ClearRows()
    {
        Counts.Clear();
        Parked = 0;
    }

    public void Clear()
    {
        ClearRows();
        Conflicts.Clear();
    }
}
