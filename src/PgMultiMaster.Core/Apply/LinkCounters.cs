using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using PgMultiMaster.Decoding;

namespace PgMultiMaster.Apply;

/// <summary>
/// Totals of one link since the worker started — never reset when the link reconnects, so they can be exported as
/// Prometheus counters — and when it last applied a transaction. Written by the link's apply session, read by status
/// and metrics on other threads.
/// </summary>
public sealed class LinkCounters
{
    private long _rows, _conflicts, _parked, _transactions;
    private readonly ConcurrentDictionary<(string Table, ChangeKind Kind), StrongBox<long>> _rowsByTable = new();
    private readonly ConcurrentDictionary<(string Table, string Type, string Resolution), StrongBox<long>> _conflictsBy = new();
    private Histogram<double>? _applyDuration;
    private KeyValuePair<string, object?>[] _tags = [];

    /// <summary>Row changes committed on the target, conflicts resolved included, parked changes not.</summary>
    public long Rows => Volatile.Read(ref _rows);
    public long Conflicts => Volatile.Read(ref _conflicts);
    public long Parked => Volatile.Read(ref _parked);

    /// <summary>Source transactions committed on the target.</summary>
    public long TransactionsApplied => Volatile.Read(ref _transactions);

    /// <summary>Source commit → target commit of the last applied transaction, and when that was (null: none yet).</summary>
    public LastApply? LastApplied { get; private set; }

    internal void TransactionApplied(LastApply last)
    {
        LastApplied = last;
        Interlocked.Increment(ref _transactions);
    }

    public IEnumerable<(string Table, ChangeKind Kind, long Rows)> RowsByTable() =>
        _rowsByTable.Select(e => (e.Key.Table, e.Key.Kind, Volatile.Read(ref e.Value.Value)));

    public IEnumerable<(string Table, string Type, string Resolution, long Count)> ConflictsByKind() =>
        _conflictsBy.Select(e => (e.Key.Table, e.Key.Type, e.Key.Resolution, Volatile.Read(ref e.Value.Value)));

    /// <summary>Counts the row changes and the parked changes among <paramref name="items"/> (a transaction's, once committed).</summary>
    internal void AddRows(IReadOnlyList<PendingChange> items)
    {
        foreach (var (change, n) in Runs(items, items.Count)) Add(change, n);
        AddParked(items.Count(i => i.IsParked));
    }

    /// <summary>
    /// The row changes among the first <paramref name="count"/> items as runs of the same table and kind, so
    /// counting costs one update per run, not one per row.
    /// </summary>
    internal static IEnumerable<(RowChange First, long Count)> Runs(IReadOnlyList<PendingChange> items, int count)
    {
        RowChange? run = null;
        long n = 0;
        for (var i = 0; i < count; i++)
        {
            if (items[i].IsParked) continue;
            var c = items[i].Change;
            if (run is not null && (c.Kind != run.Kind || !ReferenceEquals(c.Relation, run.Relation)))
            {
                yield return (run, n);
                n = 0;
            }
            run = c;
            n++;
        }
        if (run is not null) yield return (run, n);
    }

    /// <summary>What the open transaction sent and resolved, now that it committed; empties the tally.</summary>
    internal void AddRows(RowTally tally)
    {
        foreach (var ((table, kind), n) in tally.Counts) Add(table, kind, n);
        AddParked(tally.Parked);
        foreach (var (change, type, resolution) in tally.Conflicts)
        {
            AddConflict(change.Relation.QualifiedName, type, resolution);
            if (resolution != "dead_letter") continue;
            // Parked by a rule: counted as parked, not as a row applied.
            AddParked(1);
            Add(change, -1);
        }
        tally.Clear();
    }

    private void Add(RowChange c, long n) => Add(c.Relation.QualifiedName, c.Kind, n);

    private void Add(string table, ChangeKind kind, long n)
    {
        Interlocked.Add(ref _rowsByTable.GetOrAdd((table, kind), _ => new StrongBox<long>()).Value, n);
        Interlocked.Add(ref _rows, n);
    }

    internal void AddConflict(string table, string type, string resolution)
    {
        Interlocked.Increment(ref _conflictsBy.GetOrAdd((table, type, resolution), _ => new StrongBox<long>()).Value);
        Interlocked.Increment(ref _conflicts);
    }

    internal void AddParked(int n) => Interlocked.Add(ref _parked, n);

    internal void AttachApplyDuration(Histogram<double> histogram, KeyValuePair<string, object?>[] tags) =>
        (_applyDuration, _tags) = (histogram, tags);

    /// <summary>One round trip that committed transactions on the target.</summary>
    internal void RecordApply(TimeSpan elapsed) => _applyDuration?.Record(elapsed.TotalSeconds, _tags);
}
