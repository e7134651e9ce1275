using PgMultiMaster.Configuration;
using PgMultiMaster.Setup;

namespace PgMultiMaster.Tests.Setup;

public sealed class IdSpaceTests
{
    [Fact]
    public void Nodes_take_their_position_keep_their_number_and_never_share_one()
    {
        Assert.Equal(new Dictionary<string, int> { ["east"] = 0, ["west"] = 1, ["north"] = 2 },
            IdSpace.AssignNumbers(["east", "west", "north"], new Dictionary<string, int?>()));
        // west was removed while it had 1; north keeps 2; a new node at position 2 takes the smallest free number.
        Assert.Equal(new Dictionary<string, int> { ["east"] = 0, ["north"] = 2, ["south"] = 1 },
            IdSpace.AssignNumbers(["east", "north", "south"], new Dictionary<string, int?> { ["east"] = 0, ["north"] = 2 }));
        // A number two databases claim (copied catalogs) goes to the first; the other gets a free one.
        var numbers = IdSpace.AssignNumbers(["a", "b", "c"], new Dictionary<string, int?> { ["a"] = 1, ["b"] = 1 });
        Assert.Equal(3, numbers.Values.Distinct().Count());
        Assert.Equal(1, numbers["a"]);
    }

    [Theory]
    [InlineData(16, 17, 1, true)]
    [InlineData(16, 1, 1, true)]
    [InlineData(16, 18, 1, false)]
    [InlineData(1, 17, 1, false)]
    [InlineData(16, 32, 0, true)]
    public void A_sequence_is_interleaved_when_it_steps_by_max_nodes_in_the_nodes_lane(long increment, long next, int number, bool interleaved) =>
        Assert.Equal(interleaved, IdSpace.IsInterleaved(increment, next, number, 16));

    [Theory]
    [InlineData(0, 0, 16)]
    [InlineData(100, 0, 112)]
    [InlineData(100, 3, 115)]
    [InlineData(111, 15, 127)]
    [InlineData(112, 0, 128)]
    public void An_interleaved_start_is_the_nodes_lane_above_every_id(long highest, int number, long start) =>
        Assert.Equal(start, IdSpace.InterleavedStart(highest, number, 16, int.MaxValue));

    [Fact]
    public void An_interleaved_start_never_passes_the_ceiling()
    {
        Assert.Equal(2147483632 + 15, IdSpace.InterleavedStart(2147483631, 15, 16, int.MaxValue));
        Assert.Null(IdSpace.InterleavedStart(2147483632, 0, 16, int.MaxValue));
        Assert.Null(IdSpace.InterleavedStart(long.MaxValue - 3, 1, 16, long.MaxValue));
    }

    [Fact]
    public void A_snowflake_id_holds_the_time_the_counter_and_the_node()
    {
        var at = new DateTimeOffset(2026, 12, 3, 18, 0, 0, 123, TimeSpan.Zero);
        var id = ((IdSpace.SnowflakeState(at) + 7) << 10) | 5;
        Assert.Equal((at, 7, 5), IdSpace.SnowflakeParts(id));
        Assert.True(id > 0);
        // 41 bits of milliseconds from 2025 last until 2094.
        Assert.True(IdSpace.SnowflakeState(new DateTimeOffset(2094, 1, 1, 0, 0, 0, TimeSpan.Zero)) <= SequenceCheck.SnowflakeStateMax);
    }
}

public sealed class SequenceCheckTests
{
    private static KeySequence Key(string table = "orders", KeySource source = KeySource.Nextval, long increment = 1, long last = 1, bool called = false,
        long? maxKey = null, string type = "integer", bool owned = true, long max = int.MaxValue) =>
        new("public", table, "id", type, "public", table + "_id_seq", source, increment, 1, max, false, type, owned, last, called, maxKey);

    private static SequenceOptions Strategy(string s, int maxNodes = 16) => new() { Strategy = s, MaxNodes = maxNodes };

    [Fact]
    public void Strategy_none_names_every_sequence_once_as_a_warning()
    {
        var (problems, warnings) = SequenceCheck.Run(Strategy("None"),
            [new("east", null, [Key(), Key("tickets", KeySource.Identity)]), new("west", null, [Key(), Key("tickets", KeySource.Identity)])]);
        Assert.Empty(problems);
        Assert.Equal([
            "public.orders.id: sequence public.orders_id_seq hands out the same ids on every node; PgMultiMaster:Sequences:Strategy is None.",
            "public.tickets.id: sequence public.tickets_id_seq hands out the same ids on every node; PgMultiMaster:Sequences:Strategy is None.",
        ], warnings);
    }

    [Fact]
    public void Interleave_warns_about_sequences_init_will_move_and_is_quiet_once_they_are_in_their_lanes()
    {
        var (problems, warnings) = SequenceCheck.Run(Strategy("Interleave"), [new("east", 0, [Key(last: 100, called: true)]), new("west", 1, [Key(maxKey: 100)])]);
        Assert.Empty(problems);
        Assert.Equal(2, warnings.Count);
        Assert.Contains("node 'west': public.orders.id: sequence public.orders_id_seq is not interleaved yet", warnings[1]);

        (problems, warnings) = SequenceCheck.Run(Strategy("Interleave"), [new("east", 0, [Key(increment: 16, last: 112)]), new("west", 1, [Key(increment: 16, last: 113)])]);
        Assert.Empty(problems);
        Assert.Empty(warnings);
    }

    [Fact]
    public void Interleave_refuses_descending_foreign_and_overflowing_sequences()
    {
        Assert.Contains("counts down", SequenceCheck.Run(Strategy("Interleave"), [new("east", 0, [Key(increment: -1)])]).Problems.Single());
        Assert.Contains("owned by another role", SequenceCheck.Run(Strategy("Interleave"), [new("east", 0, [Key(owned: false)])]).Problems.Single());
        Assert.Contains("would start above 2147483647", SequenceCheck.Run(Strategy("Interleave"), [new("east", 0, [Key(last: int.MaxValue - 3, called: true)])]).Problems.Single());
        Assert.Contains("raise MaxNodes above 2", SequenceCheck.Run(Strategy("Interleave", 2), [new("north", 2, [])]).Problems.Single());
    }

    [Fact]
    public void Snowflake_asks_for_next_id_defaults_on_bigint_keys()
    {
        var (problems, warnings) = SequenceCheck.Run(Strategy("Snowflake"), [new("east", 0, [Key(), Key("tickets", KeySource.Identity)])]);
        Assert.Empty(problems);
        Assert.Equal("public.orders.id takes nextval of sequence public.orders_id_seq, which hands out the same ids on every node: with PgMultiMaster:Sequences:Strategy Snowflake " +
                     "set its DEFAULT to pgmm.next_id('public.orders_id_seq').", warnings[0]);
        Assert.Contains("DROP IDENTITY", warnings[1]);

        Assert.Contains("make the column bigint", SequenceCheck.Run(Strategy("Snowflake"), [new("east", 0, [Key(source: KeySource.NextId)])]).Problems.Single());
        Assert.Contains("pgmm init changes it", SequenceCheck.Run(Strategy("Snowflake"), [new("east", 0, [Key(source: KeySource.NextId, type: "bigint", increment: 16, max: long.MaxValue)])]).Warnings.Single());
        Assert.Equal((0, 0), Count(SequenceCheck.Run(Strategy("Snowflake"), [new("east", 0, [Key(source: KeySource.NextId, type: "bigint", max: long.MaxValue)])])));
    }

    private static (int, int) Count((List<string> Problems, List<string> Warnings) r) => (r.Problems.Count, r.Warnings.Count);
}
