using PgMultiMaster.Configuration;
using PgMultiMaster.Conflicts;
using PgMultiMaster.Decoding;

namespace PgMultiMaster.Tests.Conflicts;

public sealed class ConflictResolverTests
{
    private static readonly DateTime T0 = new(2026, 1, 1, 12, 0, 0, DateTimeKind.Utc);
    private static readonly RelationInfo Accounts = new(1, "public", "accounts", ReplicaIdentity.Full,
        [new ColumnInfo("id", 20, true), new ColumnInfo("owner", 25, false), new ColumnInfo("balance", 1700, false)]);

    private static RowVersion At(int ms, string node) => new(T0.AddMilliseconds(ms), node);

    private static Cell[] Row(params string?[] v) => v.Select(x => x is null ? Cell.Null : x == "~" ? Cell.Unchanged : Cell.Of(x)).ToArray();

    private static TableRules Rules(string strategy, Action<TableConflictRule>? table = null, string[]? priority = null)
    {
        var options = new ConflictOptions { Default = new ConflictRule { Strategy = strategy, Priority = [.. priority ?? []], Function = "public.pick" } };
        if (table is not null)
        {
            var rule = new TableConflictRule { Strategy = strategy, Priority = [.. priority ?? []], Function = "public.pick" };
            table(rule);
            options.Tables["public.accounts"] = rule;
        }
        return new TableRules(options, "public.accounts");
    }

    // The remote change is newer (t=20 from west) than the local version (t=10 from east) ...
    private static Conflict NewerRemote(ConflictType type) => Make(type, At(10, "east"), At(20, "west"));
    // ... or older (t=5 from west).
    private static Conflict OlderRemote(ConflictType type) => Make(type, At(10, "east"), At(5, "west"));

    private static Conflict Make(ConflictType type, RowVersion? local, RowVersion remote) => type switch
    {
        ConflictType.InsertExists => new(type, Accounts, ["1", "ann", "10"], local, null, Row("1", "bob", "20"), remote),
        ConflictType.InsertDeleted or ConflictType.UpdateMissing => new(type, Accounts, null, local, Row("1", "ann", "10"), Row("1", "bob", "20"), remote),
        ConflictType.UpdateOriginDiffers => new(type, Accounts, ["1", "ann", "15"], local, Row("1", "ann", "10"), Row("1", "bob", "20"), remote),
        ConflictType.DeleteOriginDiffers => new(type, Accounts, ["1", "ann", "15"], local, Row("1", "ann", "10"), null, remote),
        ConflictType.DeleteMissing => new(type, Accounts, null, null, Row("1", "ann", "10"), null, remote),
        _ => new(type, Accounts, null, local, null, Row("1", "bob", "20"), remote),
    };

    public static TheoryData<string, ConflictType, Outcome, Outcome> Matrix()
    {
        // strategy, conflict type, outcome when the remote is newer, outcome when the remote is older
        var data = new TheoryData<string, ConflictType, Outcome, Outcome>();
        ConflictType[] rowTypes = [ConflictType.InsertExists, ConflictType.InsertDeleted, ConflictType.UpdateMissing,
                                   ConflictType.UpdateOriginDiffers, ConflictType.DeleteOriginDiffers];
        foreach (var t in rowTypes)
        {
            data.Add("LastWriterWins", t, Outcome.ApplyRemote, Outcome.KeepLocal);
            data.Add("FirstWriterWins", t, Outcome.KeepLocal, Outcome.ApplyRemote);
            data.Add("ApplyRemote", t, Outcome.ApplyRemote, Outcome.ApplyRemote);
            data.Add("KeepLocal", t, Outcome.KeepLocal, Outcome.KeepLocal);
            data.Add("Function", t, Outcome.CallFunction, Outcome.CallFunction);
            data.Add("DeadLetter", t, Outcome.DeadLetter, Outcome.DeadLetter);
        }
        foreach (var s in ConflictRule.Strategies)
        {
            data.Add(s, ConflictType.SchemaMismatch, Outcome.DeadLetter, Outcome.DeadLetter);
            data.Add(s, ConflictType.DeleteMissing, s is "DeadLetter" ? Outcome.DeadLetter : s is "Function" ? Outcome.CallFunction : Outcome.KeepLocal,
                                                     s is "DeadLetter" ? Outcome.DeadLetter : s is "Function" ? Outcome.CallFunction : Outcome.KeepLocal);
            data.Add(s, ConflictType.UniqueViolation, s is "KeepLocal" ? Outcome.KeepLocal : s is "Function" ? Outcome.CallFunction : Outcome.DeadLetter,
                                                       s is "KeepLocal" ? Outcome.KeepLocal : s is "Function" ? Outcome.CallFunction : Outcome.DeadLetter);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Matrix))]
    public void Every_strategy_decides_every_conflict_type(string strategy, ConflictType type, Outcome whenRemoteNewer, Outcome whenRemoteOlder)
    {
        Assert.Equal(whenRemoteNewer, ConflictResolver.Resolve(NewerRemote(type), Rules(strategy)).Outcome);
        Assert.Equal(whenRemoteOlder, ConflictResolver.Resolve(OlderRemote(type), Rules(strategy)).Outcome);
    }

    [Theory]
    [InlineData(ConflictType.InsertExists)]
    [InlineData(ConflictType.UpdateOriginDiffers)]
    [InlineData(ConflictType.DeleteOriginDiffers)]
    [InlineData(ConflictType.InsertDeleted)]
    public void Node_priority_prefers_the_listed_node_whatever_the_time(ConflictType type)
    {
        var westFirst = Rules("NodePriority", priority: ["west", "east"]);
        var eastFirst = Rules("NodePriority", priority: ["east", "west"]);
        Assert.Equal(Outcome.ApplyRemote, ConflictResolver.Resolve(OlderRemote(type), westFirst).Outcome);
        Assert.Equal(Outcome.KeepLocal, ConflictResolver.Resolve(NewerRemote(type), eastFirst).Outcome);
    }

    [Fact]
    public void An_update_whose_row_never_arrived_is_applied_unless_a_newer_delete_says_otherwise()
    {
        var noTombstone = Make(ConflictType.UpdateMissing, null, At(5, "west"));
        foreach (var s in new[] { "LastWriterWins", "FirstWriterWins", "ApplyRemote" })
            Assert.Equal(Outcome.ApplyRemote, ConflictResolver.Resolve(noTombstone, Rules(s)).Outcome);
        Assert.Equal(Outcome.KeepLocal, ConflictResolver.Resolve(Make(ConflictType.UpdateMissing, At(10, "north"), At(5, "west")), Rules("LastWriterWins")).Outcome);
    }

    [Fact]
    public void Equal_timestamps_are_broken_by_node_name_the_same_way_on_every_node()
    {
        var westOverEast = Make(ConflictType.UpdateOriginDiffers, At(10, "east"), At(10, "west"));
        var eastOverWest = Make(ConflictType.UpdateOriginDiffers, At(10, "west"), At(10, "east"));
        Assert.Equal(Outcome.ApplyRemote, ConflictResolver.Resolve(westOverEast, Rules("LastWriterWins")).Outcome);
        Assert.Equal(Outcome.KeepLocal, ConflictResolver.Resolve(eastOverWest, Rules("LastWriterWins")).Outcome);
    }

    [Fact]
    public void An_unknown_local_timestamp_counts_as_the_oldest()
    {
        var frozen = Make(ConflictType.UpdateOriginDiffers, new RowVersion(null, "east"), At(-100000, "west"));
        Assert.Equal(Outcome.ApplyRemote, ConflictResolver.Resolve(frozen, Rules("LastWriterWins")).Outcome);
    }

    [Fact]
    public void Column_rules_override_the_table_rule_per_column()
    {
        var rules = Rules("LastWriterWins", t => t.Columns["balance"] = "Delta");
        var r = ConflictResolver.Resolve(OlderRemote(ConflictType.UpdateOriginDiffers), rules);
        Assert.Equal(Outcome.Merge, r.Outcome);
        Assert.Equal([ColumnSource.Local, ColumnSource.Local, ColumnSource.Delta], r.Columns);
        Assert.Contains("balance: Delta", r.Rule);

        r = ConflictResolver.Resolve(NewerRemote(ConflictType.UpdateOriginDiffers), rules);
        Assert.Equal([ColumnSource.Remote, ColumnSource.Remote, ColumnSource.Delta], r.Columns);
    }

    [Fact]
    public void Column_merge_takes_each_side_changes_and_breaks_ties_by_last_writer()
    {
        // base (remote old): owner=ann balance=10; local changed balance to 15; remote changed owner to bob.
        var c = new Conflict(ConflictType.UpdateOriginDiffers, Accounts, ["1", "ann", "15"], At(10, "east"),
            Row("1", "ann", "10"), Row("1", "bob", "10"), At(5, "west"));
        var r = ConflictResolver.Resolve(c, Rules("ColumnMerge", t => { }));
        Assert.Equal([ColumnSource.Remote, ColumnSource.Remote, ColumnSource.Local], r.Columns);

        // Both changed balance: the newer (local) wins that column.
        var both = c with { RemoteNew = Row("1", "bob", "99") };
        Assert.Equal([ColumnSource.Remote, ColumnSource.Remote, ColumnSource.Local], ConflictResolver.Resolve(both, Rules("ColumnMerge", t => { })).Columns);
        var bothRemoteNewer = both with { RemoteVersion = At(50, "west") };
        Assert.Equal(Outcome.ApplyRemote, ConflictResolver.Resolve(bothRemoteNewer, Rules("ColumnMerge", t => { })).Outcome);
    }

    [Fact]
    public void Unchanged_toast_columns_stay_local()
    {
        var c = NewerRemote(ConflictType.UpdateOriginDiffers) with { RemoteNew = Row("1", "~", "20") };
        Assert.Equal([ColumnSource.Remote, ColumnSource.Local, ColumnSource.Remote], ConflictResolver.Resolve(c, Rules("LastWriterWins")).Columns);
    }

    [Fact]
    public void A_type_rule_overrides_the_table_rule_and_a_table_rule_the_default()
    {
        var options = new ConflictOptions
        {
            Default = new ConflictRule { Strategy = "KeepLocal", Types = { ["update_missing"] = "DeadLetter" } },
            Tables = { ["public.accounts"] = new TableConflictRule { Strategy = "ApplyRemote", Types = { ["insert_exists"] = "KeepLocal" } } },
        };
        var accounts = new TableRules(options, "public.accounts");
        var other = new TableRules(options, "public.other");
        Assert.Equal(Outcome.KeepLocal, ConflictResolver.Resolve(NewerRemote(ConflictType.InsertExists), accounts).Outcome);
        Assert.Equal(Outcome.ApplyRemote, ConflictResolver.Resolve(OlderRemote(ConflictType.UpdateOriginDiffers), accounts).Outcome);
        Assert.Equal(Outcome.DeadLetter, ConflictResolver.Resolve(NewerRemote(ConflictType.UpdateMissing), other).Outcome);
        Assert.Equal(Outcome.KeepLocal, ConflictResolver.Resolve(NewerRemote(ConflictType.UpdateOriginDiffers), other).Outcome);
        Assert.Equal("public.accounts insert_exists: KeepLocal", ConflictResolver.Resolve(NewerRemote(ConflictType.InsertExists), accounts).Rule);
    }
}
