using PgMultiMaster.Configuration;

namespace PgMultiMaster.Tests.Configuration;

public sealed class OptionsValidatorTests
{
    private static PgMultiMasterOptions Valid() => new()
    {
        Node = "east",
        Nodes = [new() { Name = "east", ConnectionString = "Host=a;Database=app" }, new() { Name = "west", ConnectionString = "Host=b;Database=app" }],
        Tables = ["public.*"],
    };

    [Fact]
    public void A_complete_configuration_is_accepted() => Assert.Empty(OptionsValidator.Validate(Valid(), requireNode: true));

    [Theory]
    [InlineData("East", "PgMultiMaster:Nodes:0:Name 'East' must be")]
    [InlineData("a-b", "PgMultiMaster:Nodes:0:Name 'a-b' must be")]
    [InlineData("", "PgMultiMaster:Nodes:0:Name '' must be")]
    public void Node_names_must_fit_in_slot_names(string name, string expected)
    {
        var o = Valid();
        o.Nodes[0].Name = name;
        Assert.Contains(OptionsValidator.Validate(o, requireNode: false), e => e.StartsWith(expected, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(0.5, false)]
    [InlineData(1, true)]
    [InlineData(86400, true)]
    [InlineData(86401, false)]
    public void The_dead_connection_timeout_is_between_a_second_and_a_day(double seconds, bool valid)
    {
        var o = Valid();
        o.Apply.DeadConnectionTimeout = TimeSpan.FromSeconds(seconds);
        var errors = OptionsValidator.Validate(o, requireNode: true);
        if (valid) Assert.Empty(errors);
        else Assert.Equal([$"PgMultiMaster:Apply:DeadConnectionTimeout {o.Apply.DeadConnectionTimeout} must be between 00:00:01 and 1.00:00:00."], errors);
    }

    [Fact]
    public void Monitoring_settings_are_checked_with_their_keys()
    {
        var o = Valid();
        o.Monitoring.Urls = "localhost:9478";
        o.Monitoring.MaxLag = TimeSpan.Zero;
        o.Monitoring.MaxLagBytes = 0;
        o.Monitoring.MaxWalRetainedBytes = -1;
        o.Monitoring.PollInterval = TimeSpan.FromSeconds(-1);
        var errors = OptionsValidator.Validate(o, requireNode: true);
        Assert.Contains("PgMultiMaster:Monitoring:Urls 'localhost:9478' must be an http:// URL such as http://0.0.0.0:9478 (no TLS: put a TLS proxy or the cluster's ingress in front).", errors);
        Assert.Contains("PgMultiMaster:Monitoring:MaxLag must be positive.", errors);
        Assert.Contains("PgMultiMaster:Monitoring:MaxLagBytes must be positive.", errors);
        Assert.Contains("PgMultiMaster:Monitoring:MaxWalRetainedBytes must be positive.", errors);
        Assert.Contains("PgMultiMaster:Monitoring:PollInterval must be positive.", errors);

        o = Valid();
        o.Monitoring.Urls = "http://0.0.0.0:9478;http://[::]:0";
        o.Monitoring.AccessToken = "s3cret";
        Assert.Empty(OptionsValidator.Validate(o, requireNode: true));
        o.Monitoring.Urls = ""; // no HTTP at all
        o.Monitoring.AccessToken = null;
        Assert.Empty(OptionsValidator.Validate(o, requireNode: true));
    }

    [Theory]
    [InlineData("http://0.0.0.0:9478")]
    [InlineData("http://*:9478")]
    [InlineData("http://+:9478")]
    [InlineData("http://[::]:9478")]
    [InlineData("http://pgmm-east:9478")]
    [InlineData("http://10.0.0.5:9478")]
    [InlineData("http://127.0.0.1:9478;http://0.0.0.0:9479")]
    public void A_worker_serving_beyond_loopback_needs_an_access_token(string urls)
    {
        var o = Valid();
        o.Monitoring.Urls = urls;

        var error = Assert.Single(OptionsValidator.Validate(o, requireNode: true));

        Assert.StartsWith("PgMultiMaster:Monitoring:AccessToken must be set: PgMultiMaster:Monitoring:Urls '", error, StringComparison.Ordinal);
        Assert.Contains("PgMultiMaster:Monitoring:AllowAnonymous: true", error, StringComparison.Ordinal);
        Assert.DoesNotContain("\n", error, StringComparison.Ordinal);
        // Commands other than run serve no HTTP.
        Assert.Empty(OptionsValidator.Validate(o, requireNode: false));
        o.Monitoring.AccessToken = "s3cret";
        Assert.Empty(OptionsValidator.Validate(o, requireNode: true));
        o.Monitoring.AccessToken = null;
        o.Monitoring.AllowAnonymous = true;
        Assert.Empty(OptionsValidator.Validate(o, requireNode: true));
    }

    [Theory]
    [InlineData("http://127.0.0.1:9478")]
    [InlineData("http://127.0.0.1:0")]
    [InlineData("http://127.8.9.10:9478")]
    [InlineData("http://localhost:9478")]
    [InlineData("http://[::1]:9478")]
    [InlineData("http://localhost:9478;http://[::1]:9479")]
    [InlineData("")]
    public void A_worker_serving_loopback_only_needs_no_token(string urls)
    {
        var o = Valid();
        o.Monitoring.Urls = urls;
        Assert.Empty(OptionsValidator.Validate(o, requireNode: true));
    }

    [Fact]
    public void Every_problem_is_reported_with_its_key()
    {
        var o = Valid();
        o.Cluster = "Bad Name";
        o.Node = "south";
        o.Nodes.Add(new() { Name = "west", ConnectionString = "Host=c" });
        o.Nodes.Add(new() { Name = "north", ConnectionString = "" });
        o.Tables = ["accounts"];
        o.InsertOnlyTables = ["noschema"];
        o.Apply.BatchSize = 0;
        o.Apply.FeedbackInterval = TimeSpan.Zero;

        var errors = OptionsValidator.Validate(o, requireNode: true);

        Assert.Contains(errors, e => e.StartsWith("PgMultiMaster:Cluster 'Bad Name'", StringComparison.Ordinal));
        Assert.Contains("PgMultiMaster:Nodes:2:Name 'west' is listed twice.", errors);
        Assert.Contains("PgMultiMaster:Nodes:3:ConnectionString is empty for node 'north'.", errors);
        Assert.Contains(errors, e => e.StartsWith("PgMultiMaster:Node 'south' is not one of PgMultiMaster:Nodes", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("PgMultiMaster:Tables:0 'accounts' must be schema.table", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("PgMultiMaster:InsertOnlyTables:0 'noschema' must be schema.table", StringComparison.Ordinal));
        Assert.Contains("PgMultiMaster:Apply:BatchSize 0 must be between 1 and 10000.", errors);
        Assert.Contains("PgMultiMaster:Apply:FeedbackInterval must be positive.", errors);
    }

    [Fact]
    public void A_worker_needs_its_node_but_init_does_not()
    {
        var o = Valid();
        o.Node = null;
        Assert.Empty(OptionsValidator.Validate(o, requireNode: false));
        Assert.Contains(OptionsValidator.Validate(o, requireNode: true), e => e.StartsWith("PgMultiMaster:Node is not set", StringComparison.Ordinal));
    }

    [Fact]
    public void A_cluster_needs_two_nodes_and_some_tables()
    {
        var errors = OptionsValidator.Validate(new PgMultiMasterOptions(), requireNode: false);
        Assert.Contains("PgMultiMaster:Nodes must list at least two nodes (found 0).", errors);
        Assert.Contains(errors, e => e.StartsWith("PgMultiMaster:Tables is empty", StringComparison.Ordinal));
    }

    [Fact]
    public void Unparseable_connection_strings_are_named()
    {
        var o = Valid();
        o.Nodes[1].ConnectionString = "Hots=b;;Port=notanumber";
        Assert.Contains(OptionsValidator.Validate(o, requireNode: false),
            e => e.StartsWith("PgMultiMaster:Nodes:1:ConnectionString of node 'west' is not a valid Npgsql connection string", StringComparison.Ordinal));
    }

    [Fact]
    public void A_connection_string_that_does_not_parse_is_refused_without_showing_any_of_it()
    {
        // An unquoted ';' in a password: the parser would name the rest of the password as an unknown keyword.
        var o = Valid();
        o.Nodes[0].ConnectionString = "Host=a;Username=pgmm;Password=first;SecretHalf=x";
        var error = Assert.Single(OptionsValidator.Validate(o, requireNode: false));
        Assert.StartsWith("PgMultiMaster:Nodes:0:ConnectionString of node 'east' is not a valid Npgsql connection string", error, StringComparison.Ordinal);
        Assert.DoesNotContain("SecretHalf", error, StringComparison.Ordinal);
        Assert.DoesNotContain("first", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Node_names_whose_links_would_share_a_slot_name_are_refused_naming_both_links()
    {
        var o = Valid();
        o.Nodes = [new() { Name = "a_b", ConnectionString = "Host=a" }, new() { Name = "c", ConnectionString = "Host=b" },
                   new() { Name = "a", ConnectionString = "Host=c" }, new() { Name = "b_c", ConnectionString = "Host=d" }];
        Assert.Contains("PgMultiMaster:Nodes: the links a_b->c and a->b_c would both use the slot pgmm_a_b_c; rename one of the nodes.",
            OptionsValidator.Validate(o, requireNode: false));
    }

    [Theory]
    [InlineData("None", 16, null)]
    [InlineData("interleave", 16, null)]
    [InlineData("Snowflake", 1024, null)]
    [InlineData("Galloc", 16, "PgMultiMaster:Sequences:Strategy 'Galloc' is not one of None, Interleave, Snowflake.")]
    [InlineData("Interleave", 1, "PgMultiMaster:Sequences:MaxNodes 1 must be between 2 and 1024.")]
    [InlineData("Interleave", 1025, "PgMultiMaster:Sequences:MaxNodes 1025 must be between 2 and 1024.")]
    public void The_sequence_strategy_and_max_nodes_are_checked(string strategy, int maxNodes, string? error)
    {
        var o = Valid();
        o.Sequences.Strategy = strategy;
        o.Sequences.MaxNodes = maxNodes;
        var errors = OptionsValidator.Validate(o, requireNode: true);
        if (error is null) Assert.Empty(errors);
        else Assert.Equal([error], errors);
    }

    [Fact]
    public void Interleave_needs_a_lane_for_every_node()
    {
        var o = Valid();
        o.Nodes.Add(new() { Name = "north", ConnectionString = "Host=c;Database=app" });
        o.Sequences.Strategy = "Interleave";
        o.Sequences.MaxNodes = 2;
        Assert.StartsWith("PgMultiMaster:Sequences:MaxNodes 2 is below the 3 nodes of PgMultiMaster:Nodes", Assert.Single(OptionsValidator.Validate(o, requireNode: true)));
    }
}
