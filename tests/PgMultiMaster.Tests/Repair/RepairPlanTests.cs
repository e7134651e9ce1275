using PgMultiMaster.Diagnostics;
using PgMultiMaster.Repair;

namespace PgMultiMaster.Tests.Repair;

public sealed class RepairPlanTests
{
    private static RowVersion V(long hash) => new(hash, hash.ToString(System.Globalization.CultureInfo.InvariantCulture));

    [Fact]
    public void Every_other_node_gets_the_source_s_rows_inserted_updated_or_deleted()
    {
        string[] nodes = ["east", "west", "north"];
        var plan = RepairPlan.For(nodes, [
            new KeyDifference(new RowKey(["1"]), [V(1), null, V(1)]),
            new KeyDifference(new RowKey(["2"]), [V(2), V(2), V(3)]),
            new KeyDifference(new RowKey(["3"]), [null, V(3), V(3)]),
            new KeyDifference(new RowKey(["4"]), [null, null, V(4)]),
        ], "east");
        Assert.Equal([
            "west 1 Insert", "west 3 Delete",
            "north 2 Update", "north 3 Delete", "north 4 Delete",
        ], plan.Select(s => $"{s.Node} {s.Key} {s.Action}"));
    }

    [Fact]
    public void The_source_itself_is_never_changed_and_must_be_a_node()
    {
        var plan = RepairPlan.For(["east", "west"], [new KeyDifference(new RowKey(["1"]), [null, V(1)])], "west");
        Assert.Equal("east 1 Insert", $"{Assert.Single(plan).Node} {plan[0].Key} {plan[0].Action}");
        Assert.Throws<ArgumentException>(() => RepairPlan.For(["east", "west"], [], "south"));
    }
}
