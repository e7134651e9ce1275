using PgMultiMaster.Diagnostics;

namespace PgMultiMaster.Tests.Diagnostics;

public sealed class KeyDifferenceTests
{
    private static RowKey Key(params string[] values) => new(values);

    private static Dictionary<RowKey, RowVersion> Rows(params (string Key, long Hash)[] rows) =>
        rows.ToDictionary(r => Key(r.Key), r => new RowVersion(r.Hash, $"({r.Key},{r.Hash})"));

    [Fact]
    public void Only_keys_that_are_missing_somewhere_or_differ_are_reported_with_what_each_node_has()
    {
        var differences = KeyDifference.Compare([
            Rows(("1", 10), ("2", 20), ("3", 30)),
            Rows(("1", 10), ("3", 31)),
            Rows(("1", 10), ("2", 20), ("3", 30), ("4", 40)),
        ]);
        Assert.Equal(["2", "3", "4"], differences.Select(d => d.Key.ToString()));
        Assert.Equal([DifferenceKind.Missing, DifferenceKind.Differs, DifferenceKind.Missing], differences.Select(d => d.Kind));
        Assert.Null(differences[0].PerNode[1]);
        Assert.Equal(31, differences[1].PerNode[1]!.Hash);
    }

    [Fact]
    public void A_key_missing_on_one_node_and_different_on_the_others_is_both()
    {
        var d = Assert.Single(KeyDifference.Compare([Rows(("1", 10)), Rows(), Rows(("1", 11))]));
        Assert.Equal(DifferenceKind.MissingAndDiffers, d.Kind);
    }

    [Fact]
    public void Keys_compare_value_by_value_not_by_joined_text()
    {
        Assert.NotEqual(Key("a,b", "c"), Key("a", "b,c"));
        Assert.Equal(Key("a", "b"), Key("a", "b"));
        Assert.Equal("(x, y)=(1, a b)", Key("1", "a b").Describe(["x", "y"]));
        Assert.Equal("id=5", Key("5").Describe(["id"]));
    }

    [Fact]
    public void Rows_of_a_table_without_a_key_differ_by_their_number_of_copies()
    {
        var once = new Dictionary<RowKey, RowVersion> { [Key("(1,a)")] = new(5, "(1,a)", 1) };
        var twice = new Dictionary<RowKey, RowVersion> { [Key("(1,a)")] = new(5, "(1,a)", 2) };
        Assert.Equal(DifferenceKind.Differs, Assert.Single(KeyDifference.Compare([once, twice])).Kind);
        Assert.Empty(KeyDifference.Compare([once, once]));
    }
}
