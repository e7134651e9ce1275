using PgMultiMaster.Configuration;

namespace PgMultiMaster.Tests.Configuration;

public sealed class ConflictOptionsValidationTests
{
    private static PgMultiMasterOptions With(Action<ConflictOptions> configure)
    {
        var o = new PgMultiMasterOptions
        {
            Nodes = [new() { Name = "east", ConnectionString = "Host=a" }, new() { Name = "west", ConnectionString = "Host=b" }],
            Tables = ["public.*"],
        };
        configure(o.Conflicts);
        return o;
    }

    private static IReadOnlyList<string> Errors(Action<ConflictOptions> configure) => OptionsValidator.Validate(With(configure), requireNode: false);

    [Fact]
    public void Every_strategy_name_is_accepted_as_a_row_rule()
    {
        foreach (var s in ConflictRule.Strategies.Where(s => s != "Delta"))
            Assert.Empty(Errors(c => c.Default = new ConflictRule { Strategy = s, Priority = ["east"], Function = "public.f" }));
    }

    [Fact]
    public void An_unknown_strategy_is_named_with_its_key()
    {
        var errors = Errors(c => c.Tables["public.t"] = new TableConflictRule { Strategy = "Newest", Columns = { ["a"] = "Sum" } });
        Assert.Contains(errors, e => e.StartsWith("PgMultiMaster:Conflicts:Tables:public.t:Strategy: unknown strategy 'Newest'", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("PgMultiMaster:Conflicts:Tables:public.t:Columns:a: unknown strategy 'Sum'", StringComparison.Ordinal));
    }

    [Fact]
    public void Unknown_conflict_types_and_column_wise_rules_for_single_versions_are_refused()
    {
        var errors = Errors(c => c.Default.Types = new() { ["update_gone"] = "KeepLocal", ["update_missing"] = "ColumnMerge", ["insert_exists"] = "Delta" });
        Assert.Contains(errors, e => e.StartsWith("PgMultiMaster:Conflicts:Default:Types:update_gone: unknown conflict type", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("PgMultiMaster:Conflicts:Default:Types:update_missing: ColumnMerge merges the columns", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("PgMultiMaster:Conflicts:Default:Types:insert_exists: Delta is for counter columns", StringComparison.Ordinal));
    }

    [Fact]
    public void Delta_is_a_column_or_table_rule_not_a_default()
    {
        Assert.Contains(Errors(c => c.Default.Strategy = "Delta"), e => e.StartsWith("PgMultiMaster:Conflicts:Default: Delta is for counter columns", StringComparison.Ordinal));
        Assert.Empty(Errors(c => c.Tables["public.counters"] = new TableConflictRule { Strategy = "Delta" }));
    }

    [Fact]
    public void Node_priority_needs_known_nodes()
    {
        Assert.Contains("PgMultiMaster:Conflicts:Default:Priority must list the nodes in order of precedence for NodePriority.",
            Errors(c => c.Default.Strategy = "NodePriority"));
        Assert.Contains("PgMultiMaster:Conflicts:Default:Priority names node 'south', which is not in PgMultiMaster:Nodes.",
            Errors(c => c.Default = new ConflictRule { Strategy = "NodePriority", Priority = ["east", "south"] }));
    }

    [Fact]
    public void A_function_rule_needs_a_qualified_function_and_row_only_rules_are_not_column_rules()
    {
        Assert.Contains("PgMultiMaster:Conflicts:Default:Function must name the resolver function as schema.name for the Function strategy.",
            Errors(c => c.Default.Strategy = "Function"));
        Assert.Contains(Errors(c => c.Tables["public.t"] = new TableConflictRule { Columns = { ["a"] = "DeadLetter" } }),
            e => e == "PgMultiMaster:Conflicts:Tables:public.t:Columns:a: DeadLetter decides whole rows; it cannot be a column rule.");
    }

    [Fact]
    public void Table_rules_name_one_table_and_durations_are_checked()
    {
        var errors = Errors(c =>
        {
            c.Tables["public.*"] = new TableConflictRule();
            c.MaxClockSkew = TimeSpan.FromSeconds(-1);
            c.LogRetention = TimeSpan.Zero;
        });
        Assert.Contains("PgMultiMaster:Conflicts:Tables:public.*: 'public.*' must be a schema.table name (no patterns).", errors);
        Assert.Contains("PgMultiMaster:Conflicts:MaxClockSkew must not be negative.", errors);
        Assert.Contains("PgMultiMaster:Conflicts:LogRetention must be positive.", errors);
    }
}
