using PgMultiMaster.Cli;
using PgMultiMaster.Cli.CommandLine;

namespace PgMultiMaster.Tests.Cli;

/// <summary>How pgmm reads its command line: each verb's flags, usage errors (exit 2, with a suggestion), help, overrides.</summary>
public sealed class CommandLineTests
{
    private static PgmmCommandLine.Invocation Parse(params string[] args) => PgmmCommandLine.Parse(args);

    private static PgmmCommandLine.Invocation Valid(params string[] args)
    {
        var invocation = Parse(args);
        Assert.Empty(invocation.Errors);
        return invocation;
    }

    private static async Task<(int Code, string Output, string Error)> Run(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await PgmmCommandLine.RunAsync(args, output, error, CancellationToken.None);
        return (code, output.ToString(), error.ToString());
    }

    [Theory]
    [InlineData("init")]
    [InlineData("check")]
    [InlineData("diff")]
    [InlineData("status")]
    [InlineData("conflicts")]
    [InlineData("uninstall")]
    [InlineData("demo")]
    [InlineData("run")]
    [InlineData("repair")]
    public void Each_verb_parses_alone(string verb) => Assert.Equal(verb, Valid(verb).Verb!.Name);

    [Fact]
    public void Node_remove_takes_the_name_and_its_flags()
    {
        var r = Valid("node", "remove", "north", "--force", "--write-config", "--timeout", "60").Result;
        Assert.Equal("remove", r.CommandResult.Command.Name);
        Assert.Equal("north", r.GetValue<string>("NAME"));
        Assert.True(r.GetValue<bool>("--force"));
        Assert.True(r.GetValue<bool>("--write-config"));
        Assert.Equal(60, r.GetValue<int>("--timeout"));
        Assert.Equal(300, Valid("node", "remove", "north").Result.GetValue<int>("--timeout"));
    }

    [Theory]
    [InlineData(new[] { "node" }, "give an action (add, remove).")]
    [InlineData(new[] { "node", "remove" }, "give NAME.")]
    [InlineData(new[] { "node", "remvoe", "north" }, "unknown action 'remvoe'; did you mean 'remove'?")]
    [InlineData(new[] { "node", "remove", "north", "--forse" }, "unknown option '--forse'; did you mean '--force'?")]
    [InlineData(new[] { "node", "remove", "north", "--timeout", "0" }, "--timeout 0: give a number of at least 1.")]
    public void Node_usage_errors_name_what_is_missing(string[] args, string error) => Assert.Contains(error, Parse(args).Errors);

    [Fact]
    public void Ddl_takes_one_statement_a_node_and_a_role()
    {
        var r = Valid("ddl", "ALTER TABLE t ADD COLUMN c int", "--node", "east", "--role", "app_owner").Result;
        Assert.Equal(("ALTER TABLE t ADD COLUMN c int", "east", "app_owner"), (r.GetValue<string>("STATEMENT"), r.GetValue<string>("--node"), r.GetValue<string>("--role")));
        Assert.Contains("give STATEMENT.", Parse("ddl", "--node", "east").Errors);
        Assert.Contains("unknown option '--rol'; did you mean '--role'?", Parse("ddl", "x", "--rol", "a").Errors);
    }

    [Fact]
    public async Task Node_remove_help_shows_help_without_a_name()
    {
        var (code, output, _) = await Run("node", "remove", "--help");
        Assert.Equal(0, code);
        Assert.Contains("pgmm node remove <NAME> [options]", output);
        Assert.Contains("--write-config", output);
    }

    [Fact]
    public void Diff_takes_rows_and_a_table_and_repair_its_table_source_and_dry_run()
    {
        var diff = Valid("diff", "--rows", "--table", "public.t").Result;
        Assert.True(diff.GetValue<bool>("--rows"));
        Assert.Equal("public.t", diff.GetValue<string>("--table"));
        var repair = Valid("repair", "--table", "public.t", "--from", "east", "--dry-run").Result;
        Assert.Equal(("public.t", "east", true), (repair.GetValue<string>("--table"), repair.GetValue<string>("--from"), repair.GetValue<bool>("--dry-run")));
        Assert.Equal(["unknown option '--form'; did you mean '--from'?"], Parse("repair", "--table", "t", "--form", "east").Errors);
    }

    [Fact]
    public async Task Repair_without_its_table_or_source_is_a_usage_error_but_its_help_shows()
    {
        var (code, _, error) = await Run("repair", "--table", "t", "--config", "/nonexistent/pgmm.json");
        Assert.Equal(2, code);
        Assert.Contains("pgmm repair: give --from NODE.", error);
        (code, var output, _) = await Run("repair", "--help");
        Assert.Equal(0, code);
        Assert.Contains("--dry-run", output);
    }

    [Fact]
    public async Task Node_add_names_a_missing_connection_string_and_an_unknown_source_before_touching_any_server()
    {
        var config = Path.Combine(Path.GetTempPath(), $"pgmm-node-add-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(config, """
            { "PgMultiMaster": { "Cluster": "shop", "Tables": [ "public.*" ], "Nodes": [
                { "Name": "east", "ConnectionString": "Host=127.0.0.1;Port=1;Database=app" },
                { "Name": "west", "ConnectionString": "Host=127.0.0.1;Port=1;Database=app" } ] } }
            """);
        try
        {
            var (code, _, error) = await Run("node", "add", "north", "--from", "east", "--config", config);
            Assert.Equal(2, code);
            Assert.Contains("node add north: give --connection-string, or list the node in PgMultiMaster:Nodes first.", error);
            (code, _, error) = await Run("node", "add", "north", "--from", "south", "--connection-string", "Host=127.0.0.1;Port=1;Database=app", "--config", config);
            Assert.Equal(2, code);
            Assert.Contains("--from south: no node of that name in PgMultiMaster:Nodes (east, west).", error);
            (code, _, error) = await Run("node", "add", "No!", "--from", "east", "--connection-string", "Host=127.0.0.1;Port=1;Database=app", "--config", config);
            Assert.Equal(2, code);
            Assert.Contains("No!", error);
        }
        finally
        {
            File.Delete(config);
        }
    }

    [Fact]
    public void Run_takes_the_node_and_it_becomes_the_node_setting()
    {
        var invocation = Valid("run", "--config", "/etc/pgmm.json", "--node", "east");
        Assert.Equal("/etc/pgmm.json", invocation.Configuration.ConfigPath);
        Assert.Equal([new("PgMultiMaster:Node", "east")], invocation.Configuration.Overrides);
    }

    [Fact]
    public void Config_node_and_cluster_go_before_or_after_the_verb_and_take_the_equals_form()
    {
        var invocation = Valid("--config=a.json", "status", "--cluster", "shop", "--node=east");
        Assert.Equal("status", invocation.Verb!.Name);
        Assert.Equal("a.json", invocation.Configuration.ConfigPath);
        Assert.Equal([new("PgMultiMaster:Node", "east"), new("PgMultiMaster:Cluster", "shop")],
            invocation.Configuration.Overrides.OrderByDescending(o => o.Key, StringComparer.Ordinal));
    }

    [Fact]
    public void Status_takes_json()
    {
        Assert.True(Valid("status", "--json").Result.GetValue<bool>("--json"));
        Assert.False(Valid("status").Result.GetValue<bool>("--json"));
    }

    [Fact]
    public void Conflicts_takes_its_filters_and_limits_to_50_by_default()
    {
        var r = Valid("conflicts", "--on", "west", "--table", "public.t", "--type", "insert_exists", "--since", "2h", "--limit", "7").Result;
        Assert.Equal(("west", "public.t", "insert_exists", "2h", 7),
            (r.GetValue<string>("--on"), r.GetValue<string>("--table"), r.GetValue<string>("--type"), r.GetValue<string>("--since"), r.GetValue<int>("--limit")));
        Assert.Equal(50, Valid("conflicts").Result.GetValue<int>("--limit"));
    }

    [Theory]
    [InlineData(new[] { "dead-letter" }, "dead-letter")]
    [InlineData(new[] { "dead-letter", "list", "--on", "west" }, "list")]
    [InlineData(new[] { "dead-letter", "show", "--on", "east", "--id", "3" }, "show")]
    [InlineData(new[] { "dead-letter", "retry", "--on", "east", "--id", "3", "--wait" }, "retry")]
    [InlineData(new[] { "dead-letter", "retry", "--all" }, "retry")]
    [InlineData(new[] { "dead-letter", "retry" }, "retry")]
    [InlineData(new[] { "dead-letter", "discard", "--all" }, "discard")]
    [InlineData(new[] { "dead-letter", "discard", "--on", "east", "--id", "4" }, "discard")]
    public void Dead_letter_takes_an_action_and_its_flags(string[] args, string command)
    {
        var invocation = Valid(args);
        Assert.Equal(command, invocation.Verb!.Name);
        Assert.Equal("pgmm dead-letter", invocation.Prefix);
    }

    [Fact]
    public void Dead_letter_flags_have_their_values()
    {
        var r = Valid("dead-letter", "retry", "--on", "east", "--id", "42", "--wait").Result;
        Assert.Equal(("east", 42L, false, true), (r.GetValue<string>("--on"), r.GetValue<long?>("--id"), r.GetValue<bool>("--all"), r.GetValue<bool>("--wait")));
        Assert.Null(Valid("dead-letter", "discard", "--all").Result.GetValue<long?>("--id"));
    }

    [Fact]
    public void Uninstall_takes_yes() => Assert.True(Valid("uninstall", "--yes").Result.GetValue<bool>("--yes"));

    [Fact]
    public void Demo_takes_its_flags_and_defaults()
    {
        var r = Valid("demo", "--seconds", "1", "--port", "0", "--keep", "--dir", "/tmp/x", "--fail-node").Result;
        Assert.Equal((1, 0, true, "/tmp/x", true), (r.GetValue<int>("--seconds"), r.GetValue<int>("--port"), r.GetValue<bool>("--keep"), r.GetValue<string>("--dir"),
            r.GetValue<bool>("--fail-node")));
        r = Valid("demo").Result;
        Assert.Equal((10, 9478, false, (string?)null, false), (r.GetValue<int>("--seconds"), r.GetValue<int>("--port"), r.GetValue<bool>("--keep"), r.GetValue<string>("--dir"),
            r.GetValue<bool>("--fail-node")));
    }

    [Fact]
    public async Task Demo_fail_node_refuses_a_run_too_short_to_stop_and_start_a_node_before_anything_starts()
    {
        var (code, _, error) = await Run("demo", "--fail-node", "--seconds", "5", "--dir", "/nonexistent/pgmm-never-created");
        Assert.Equal(2, code);
        Assert.Contains("pgmm demo: --fail-node needs --seconds 6 or more", error);
        Assert.False(Directory.Exists("/nonexistent/pgmm-never-created"));
    }

    [Theory]
    [InlineData(new[] { "status", "--nod", "east", "--limt", "5" }, "pgmm status", "unknown option '--nod'; did you mean '--node'?")]
    [InlineData(new[] { "conflicts", "--limt", "5" }, "pgmm conflicts", "unknown option '--limt'; did you mean '--limit'?")]
    [InlineData(new[] { "run", "--nodes", "east" }, "pgmm run", "unknown option '--nodes'; did you mean '--node'?")]
    [InlineData(new[] { "uninstall", "--yse" }, "pgmm uninstall", "unknown option '--yse'; did you mean '--yes'?")]
    [InlineData(new[] { "dead-letter", "retry", "--wiat" }, "pgmm dead-letter", "unknown option '--wiat'; did you mean '--wait'?")]
    [InlineData(new[] { "statsu" }, "pgmm", "unknown verb 'statsu'; did you mean 'status'?")]
    [InlineData(new[] { "dead-letter", "lsit" }, "pgmm dead-letter", "unknown action 'lsit'; did you mean 'list'?")]
    [InlineData(new[] { "status", "--frobnicate" }, "pgmm status", "unknown option '--frobnicate' (one of --json, --help, --config, --node, --cluster).")]
    [InlineData(new[] { "diff", "extra" }, "pgmm diff", "unexpected argument 'extra'.")]
    public void Unknown_verbs_actions_and_options_are_errors_naming_the_nearest(string[] args, string prefix, string error)
    {
        var invocation = Parse(args);
        Assert.Equal(prefix, invocation.Prefix);
        Assert.Equal(error, invocation.Errors[0]);
    }

    [Fact]
    public void The_value_after_an_unknown_option_is_not_a_second_error() =>
        Assert.Equal(["unknown option '--nod'; did you mean '--node'?", "unknown option '--limt' (one of --json, --help, --config, --node, --cluster)."],
            Parse("status", "--nod", "east", "--limt", "5").Errors);

    [Theory]
    [InlineData(new[] { "conflicts", "--on" }, "--on needs a value (NODE).")]
    [InlineData(new[] { "status", "--config" }, "--config needs a value (PATH).")]
    [InlineData(new[] { "run", "--node" }, "--node needs a value (NAME).")]
    [InlineData(new[] { "dead-letter", "show", "--on", "east", "--id", "x" }, "--id 'x': give a number.")]
    [InlineData(new[] { "conflicts", "--limit", "many" }, "--limit 'many': give a number.")]
    [InlineData(new[] { "conflicts", "--limit", "0" }, "--limit 0: give a number of at least 1.")]
    [InlineData(new[] { "demo", "--port", "70000" }, "--port 70000: give a number from 0 to 65535.")]
    [InlineData(new[] { "run", "--PgMultiMaster:Node" }, "--PgMultiMaster:Node needs a value: --PgMultiMaster:Node=VALUE or --PgMultiMaster:Node VALUE.")]
    [InlineData(new[] { "--config", "x.json" }, "give a verb (see pgmm --help).")]
    public void Missing_and_unreadable_values_are_errors(string[] args, string error) => Assert.Equal([error], Parse(args).Errors);

    [Fact]
    public async Task A_usage_error_exits_2_before_anything_runs_and_points_to_help()
    {
        var (code, output, error) = await Run("status", "--nod", "east");
        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.Equal($"pgmm status: unknown option '--nod'; did you mean '--node'?{Environment.NewLine}See 'pgmm status --help'.{Environment.NewLine}", error);
    }

    [Theory]
    [InlineData("init")]
    [InlineData("check")]
    [InlineData("run")]
    [InlineData("diff")]
    [InlineData("status")]
    [InlineData("conflicts")]
    [InlineData("dead-letter")]
    [InlineData("uninstall")]
    [InlineData("demo")]
    public async Task Each_verb_has_help_that_exits_0(string verb)
    {
        foreach (var args in new[] { [verb, "--help"], [verb, "-h"], new[] { "help", verb } })
        {
            var (code, output, error) = await Run(args);
            Assert.Equal(0, code);
            Assert.Equal("", error);
            Assert.Matches($@"pgmm {verb} (\[command\] )?\[options\]", output);
            Assert.Contains("--config <PATH>", output);
        }
    }

    [Fact]
    public async Task A_verb_help_lists_its_own_options_only()
    {
        var (_, status, _) = await Run("status", "--help");
        Assert.Contains("--json", status);
        Assert.DoesNotContain("--limit", status);
        var (_, conflicts, _) = await Run("conflicts", "--help");
        foreach (var flag in new[] { "--on <NODE>", "--table <TABLE>", "--type <TYPE>", "--since <WHEN>", "--limit <N>" }) Assert.Contains(flag, conflicts);
        var (_, retry, _) = await Run("dead-letter", "retry", "--help");
        foreach (var flag in new[] { "--on <NODE>", "--id <N>", "--all", "--wait" }) Assert.Contains(flag, retry);
    }

    [Fact]
    public async Task Pgmm_alone_or_with_help_lists_every_verb_and_exits_0()
    {
        foreach (var args in new[] { [], ["--help"], ["help"], new[] { "-h" } })
        {
            var (code, output, _) = await Run(args);
            Assert.Equal(0, code);
            foreach (var verb in new[] { "init", "check", "run", "diff", "status", "conflicts", "dead-letter", "uninstall", "demo" })
                Assert.Matches($@"(?m)^  {verb}\s", output);
            Assert.Contains("Exit codes: 0 success, 1 failure or nodes differ, 2 bad configuration", output);
        }
    }

    [Fact]
    public void Configuration_overrides_are_taken_out_before_parsing_in_both_forms()
    {
        var invocation = Valid("run", "--PgMultiMaster:Apply:BatchSize=200", "--node", "east", "--Logging:LogLevel:Default", "Trace",
            "--PgMultiMaster:Monitoring:AllowAnonymous=true");
        Assert.Equal([new("PgMultiMaster:Apply:BatchSize", "200"), new("Logging:LogLevel:Default", "Trace"),
                      new("PgMultiMaster:Monitoring:AllowAnonymous", "true"), new("PgMultiMaster:Node", "east")],
            invocation.Configuration.Overrides);
    }

    [Fact]
    public void An_option_with_a_colon_value_stays_an_option() =>
        Assert.Equal([new("PgMultiMaster:Node", "east")], Valid("run", "--node:east").Configuration.Overrides);

    [Fact]
    public void A_misspelt_override_is_refused_by_the_configuration_check_with_exit_2()
    {
        var dir = Directory.CreateTempSubdirectory("pgmm-cli-test-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "appsettings.json"), """
                { "PgMultiMaster": { "Nodes": [ { "Name": "east", "ConnectionString": "Host=a" }, { "Name": "west", "ConnectionString": "Host=b" } ],
                                     "Tables": [ "public.*" ] } }
                """);
            var invocation = Valid("status", "--config", Path.Combine(dir, "appsettings.json"), "--PgMultiMaster:Apply:BatchSise=5");
            var e = Assert.Throws<CliException>(() => invocation.Configuration.LoadOptions(requireNode: false));
            Assert.Equal(2, e.ExitCode);
            Assert.Contains("PgMultiMaster:Apply:BatchSise is not a setting; did you mean PgMultiMaster:Apply:BatchSize?", e.Message);

            // Spelt right, it is the setting.
            Assert.Equal(5, Valid("status", "--config", Path.Combine(dir, "appsettings.json"), "--PgMultiMaster:Apply:BatchSize=5")
                .Configuration.LoadOptions(requireNode: false).Apply.BatchSize);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
