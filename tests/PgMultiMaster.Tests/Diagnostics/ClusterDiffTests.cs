using PgMultiMaster.Diagnostics;

namespace PgMultiMaster.Tests.Diagnostics;

public sealed class ClusterDiffTests
{
    [Fact]
    public void Tables_match_only_when_every_node_has_the_same_rows_and_hash()
    {
        var same = new ClusterDiff.TableRow("public.t", [new("public.t", 2, "abc"), new("public.t", 2, "abc")]);
        var differ = new ClusterDiff.TableRow("public.u", [new("public.u", 2, "abc"), new("public.u", 2, "abd")]);
        var missing = new ClusterDiff.TableRow("public.v", [new("public.v", 0, ""), null]);
        var diff = new ClusterDiff(["east", "west"], [same, differ, missing]);

        Assert.True(same.Matches);
        Assert.False(differ.Matches);
        Assert.False(missing.Matches);
        Assert.False(diff.AllMatch);
        var text = diff.Render();
        Assert.Contains("public.t | 2 rows / abc | 2 rows / abc | yes", text);
        Assert.Contains("(missing)", text);
        Assert.Contains("NO", text);
    }
}
