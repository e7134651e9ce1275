using PgMultiMaster.Diagnostics;

namespace PgMultiMaster.Tests.Diagnostics;

public sealed class KeyRangeTests
{
    private static IReadOnlyList<string> K(params string[] values) => values;

    private static string Bounds(KeyRange r) => $"{(r.Lower is null ? "-" : string.Join(",", r.Lower))}..{(r.Upper is null ? "-" : string.Join(",", r.Upper))}";

    [Fact]
    public void Boundaries_cut_a_range_into_adjacent_parts_that_cover_it_whole()
    {
        var parts = KeyRange.All.Split([K("10"), K("20")]);
        Assert.Equal(["-..10", "10..20", "20..-"], parts.Select(Bounds));
    }

    [Fact]
    public void A_boundary_on_the_upper_bound_adds_no_empty_part()
    {
        var range = new KeyRange(K("0"), K("30"), ".1");
        var parts = range.Split([K("15"), K("30")]);
        Assert.Equal(["0..15", "15..30"], parts.Select(Bounds));
    }

    [Fact]
    public void No_boundary_leaves_the_range_as_it_is()
    {
        var range = new KeyRange(K("0"), K("30"), ".1");
        var part = Assert.Single(range.Split([]));
        Assert.Equal("0..30", Bounds(part));
    }

    [Fact]
    public void Paths_sort_as_text_in_key_order_across_levels()
    {
        var first = KeyRange.All.Split(Enumerable.Range(1, 11).Select(i => K(i.ToString(System.Globalization.CultureInfo.InvariantCulture))).ToList());
        var deeper = first[1].Split([K("1.5")]);
        var paths = new[] { first[10].Path, deeper[1].Path, first[2].Path, deeper[0].Path, first[0].Path };
        Assert.Equal([first[0].Path, deeper[0].Path, deeper[1].Path, first[2].Path, first[10].Path], paths.Order(StringComparer.Ordinal));
    }

    [Theory]
    [InlineData(1_000_000, 1000, 64, 64)]
    [InlineData(15_625, 1000, 64, 16)]
    [InlineData(1001, 1000, 64, 2)]
    [InlineData(2, 1000, 64, 2)]
    public void Fanout_aims_at_leaf_sized_parts_within_bounds(long rows, int leaf, int max, int expected) =>
        Assert.Equal(expected, KeyRange.Fanout(rows, leaf, max));

    [Theory]
    [InlineData(1_000_000, 64, 15_625)]
    [InlineData(1001, 2, 501)]
    [InlineData(1, 2, 1)]
    public void Step_spreads_the_largest_node_s_rows_evenly(long rows, int parts, long expected) =>
        Assert.Equal(expected, KeyRange.Step(rows, parts));

    [Fact]
    public void Conditions_cast_every_bound_as_a_parameter_and_compare_composite_keys_as_rows()
    {
        var parameters = new List<string>();
        var sql = new KeyRange(K("1", "a'b"), K("2", "c"), "").Condition(["r.\"a\"", "r.\"b\""], ["integer", "text"], parameters);
        Assert.Equal("ROW(r.\"a\", r.\"b\") > ROW($1::integer, $2::text) AND ROW(r.\"a\", r.\"b\") <= ROW($3::integer, $4::text)", sql);
        Assert.Equal(["1", "a'b", "2", "c"], parameters);

        parameters.Clear();
        Assert.Equal("r.\"id\" > $1::bigint", new KeyRange(K("7"), null, "").Condition(["r.\"id\""], ["bigint"], parameters));
        Assert.Equal("true", KeyRange.All.Condition(["r.\"id\""], ["bigint"], parameters));
    }
}
