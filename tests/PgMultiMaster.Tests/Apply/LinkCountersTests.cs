using PgMultiMaster.Configuration;
using System.Collections.Immutable;
using PgMultiMaster.Apply;
using PgMultiMaster.Conflicts;
using PgMultiMaster.Decoding;

namespace PgMultiMaster.Tests.Apply;

public sealed class LinkCountersTests
{
    private static readonly RelationInfo Accounts = new(1, "public", "accounts", ReplicaIdentity.Default, [new ColumnInfo("id", 23, true)]);
    private static readonly RelationInfo Orders = new(2, "public", "orders", ReplicaIdentity.Default, [new ColumnInfo("id", 23, true)]);

    private static PendingChange Change(ChangeKind kind, RelationInfo r) => new(new RowChange(kind, r, null, [Cell.Of("1")]));

    private static PendingChange Parked(ParkRequest park) => PendingChange.Parked(park);

    [Fact]
    public void Rows_are_counted_by_table_and_operation_and_parked_changes_are_not_rows()
    {
        var counters = new LinkCounters();
        var park = Parked(new ParkRequest(Change(ChangeKind.Update, Orders).Change, ConflictType.SchemaMismatch, "missing column", true));
        List<PendingChange> items =
        [
            Change(ChangeKind.Insert, Accounts), Change(ChangeKind.Insert, Accounts), Change(ChangeKind.Update, Accounts),
            park, Change(ChangeKind.Insert, Accounts), Change(ChangeKind.Delete, Orders),
        ];
        counters.AddRows(items);
        counters.AddRows(items[..2]);

        var byTable = counters.RowsByTable().ToDictionary(r => (r.Table, r.Kind), r => r.Rows);
        Assert.Equal(5, byTable[("public.accounts", ChangeKind.Insert)]);
        Assert.Equal(1, byTable[("public.accounts", ChangeKind.Update)]);
        Assert.Equal(1, byTable[("public.orders", ChangeKind.Delete)]);
        Assert.Equal(3, byTable.Count);
        Assert.Equal(7, counters.Rows);
        Assert.Equal(1, counters.Parked);
    }

    [Fact]
    public void What_an_open_transaction_sent_counts_only_once_it_commits()
    {
        var counters = new LinkCounters();
        var tally = new RowTally();
        List<PendingChange> items = [Change(ChangeKind.Update, Accounts), Parked(new ParkRequest(Change(ChangeKind.Update, Accounts).Change, null, "boom", true)), Change(ChangeKind.Delete, Accounts)];
        tally.Add(items, 2); // the first two were sent, the third not yet
        Assert.Equal(0, counters.Rows);
        Assert.Equal(1, tally.Parked);

        counters.AddRows(tally); // committed
        Assert.Equal(1, counters.Rows);
        Assert.Equal(1, counters.Parked);
        Assert.Empty(tally.Counts);
        Assert.Equal(0, tally.Parked);

        tally.Add(items, 3);
        tally.Clear(); // rolled back
        counters.AddRows(tally);
        Assert.Equal(1, counters.Rows);
    }

    [Fact]
    public void Conflicts_are_counted_by_table_type_and_resolution()
    {
        var counters = new LinkCounters();
        counters.AddConflict("public.accounts", "update_origin_differs", "keep_local");
        counters.AddConflict("public.accounts", "update_origin_differs", "keep_local");
        counters.AddConflict("public.accounts", "insert_exists", "apply_remote");
        Assert.Equal(3, counters.Conflicts);
        Assert.Equal(2, counters.ConflictsByKind().Single(c => c.Type == "update_origin_differs").Count);
    }
}
