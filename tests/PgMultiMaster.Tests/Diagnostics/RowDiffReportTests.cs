using PgMultiMaster.Diagnostics;

namespace PgMultiMaster.Tests.Diagnostics;

public sealed class RowDiffReportTests
{
    [Fact]
    public void Each_differing_key_shows_what_every_node_has_abbreviated_then_a_summary()
    {
        var longRow = "(7," + new string('x', 100) + ")";
        var report = new RowDiffReport(["east", "west"], [
            new TableRowDiff("public.t", ["id"], [3, 2], [
                new KeyDifference(new RowKey(["5"]), [new RowVersion(1, "(5,a)"), null]),
                new KeyDifference(new RowKey(["7"]), [new RowVersion(1, longRow), new RowVersion(2, "(7,b)")]),
            ]),
            new TableRowDiff("public.same", ["a", "b"], [10, 10], []),
            new TableRowDiff("public.gone", [], [null, null], [], "missing on west"),
        ]);
        var text = report.Render();
        Assert.False(report.AllMatch);
        Assert.Contains("public.t: 2 keys differ (key id; rows: east 3, west 2)", text);
        Assert.Matches(@"id=5 +\| \(5,a\) +\| missing", text);
        Assert.Contains("(7,xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…", text);
        Assert.DoesNotContain(longRow, text);
        Assert.Contains("1 missing on some node, 1 differ", text);
        Assert.Contains("public.same: all rows match (key a, b; rows: east 10, west 10)", text);
        Assert.Contains("public.gone: not compared: missing on west", text);
        Assert.EndsWith("2 tables differ: public.t (2), public.gone (not compared)." + Environment.NewLine, text);
    }

    [Fact]
    public void A_clean_report_says_so()
    {
        var report = new RowDiffReport(["east", "west"], [new TableRowDiff("public.t", ["id"], [3, 3], [])]);
        Assert.True(report.AllMatch);
        Assert.EndsWith("All rows of 1 table match on all 2 nodes." + Environment.NewLine, report.Render());
    }
}
