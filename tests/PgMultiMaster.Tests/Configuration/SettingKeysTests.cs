using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Configuration;
using PgMultiMaster.Configuration;

namespace PgMultiMaster.Tests.Configuration;

/// <summary>A key that binds to nothing is refused, named in full with the nearest valid key beside it.</summary>
public sealed class SettingKeysTests
{
    private static IConfiguration Json(string json) =>
        new ConfigurationBuilder().AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(json))).Build();

    private static IConfiguration Pairs(params (string Key, string Value)[] pairs) =>
        new ConfigurationBuilder().AddInMemoryCollection(pairs.Select(p => new KeyValuePair<string, string?>(p.Key, p.Value))).Build();

    [Fact]
    public void Every_option_a_complete_configuration_sets_is_a_setting()
    {
        // Every property of every options class, as the demo and WorkerHost.Build(options) serialize them.
        var options = new PgMultiMasterOptions
        {
            Node = "east",
            Nodes = [new() { Name = "east", ConnectionString = "Host=a" }, new() { Name = "west", ConnectionString = "Host=b" }],
            Tables = ["public.*"], InsertOnlyTables = ["public.log"], NoTruncateTables = ["public.cache"],
            Monitoring = new MonitoringOptions { AccessToken = "t" },
        };
        options.Conflicts.Default.Priority.Add("east");
        options.Conflicts.Default.Function = "public.f";
        options.Conflicts.Default.Types["update_missing"] = "KeepLocal";
        options.Conflicts.Tables["public.accounts"] = new TableConflictRule { Strategy = "NodePriority", Priority = ["west"], Columns = { ["balance"] = "Delta" } };
        var json = JsonSerializer.Serialize(new { PgMultiMaster = options });
        Assert.Empty(SettingKeys.Unknown(Json(json)));
    }

    [Theory]
    [InlineData("PgMultiMaster:Apply:BatchSise", "PgMultiMaster:Apply:BatchSise is not a setting; did you mean PgMultiMaster:Apply:BatchSize?")]
    [InlineData("PgMultiMaster:Nod", "PgMultiMaster:Nod is not a setting; did you mean PgMultiMaster:Node?")]
    [InlineData("PgMultiMaster:Monitoring:AllowAnonymus", "PgMultiMaster:Monitoring:AllowAnonymus is not a setting; did you mean PgMultiMaster:Monitoring:AllowAnonymous?")]
    [InlineData("PgMultiMaster:Nodes:1:ConectionString", "PgMultiMaster:Nodes:1:ConectionString is not a setting; did you mean PgMultiMaster:Nodes:1:ConnectionString?")]
    [InlineData("PgMultiMaster:Conflicts:Default:Stratgy", "PgMultiMaster:Conflicts:Default:Stratgy is not a setting; did you mean PgMultiMaster:Conflicts:Default:Strategy?")]
    [InlineData("PgMultiMaster:Conflicts:Tables:public.t:Stratgy", "PgMultiMaster:Conflicts:Tables:public.t:Stratgy is not a setting; did you mean PgMultiMaster:Conflicts:Tables:public.t:Strategy?")]
    [InlineData("PgMultiMaster:Conflicts:Tables:public.t:Column:balance", "PgMultiMaster:Conflicts:Tables:public.t:Column is not a setting; did you mean PgMultiMaster:Conflicts:Tables:public.t:Columns?")]
    public void A_misspelt_key_is_named_with_the_nearest_setting(string key, string message) =>
        Assert.Equal([message], SettingKeys.Unknown(Pairs((key, "1"))));

    [Fact]
    public void Keys_compare_case_insensitively_as_configuration_does() =>
        Assert.Empty(SettingKeys.Unknown(Pairs(("pgmultimaster:apply:batchsize", "5"), ("PGMULTIMASTER:NODES:0:NAME", "east"), ("PgMultiMaster:monitoring:maxLAG", "00:01:00"))));

    [Fact]
    public void Table_column_and_conflict_type_names_are_data_not_settings()
    {
        // Whatever they are called: OptionsValidator checks them against the tables and conflict types.
        Assert.Empty(SettingKeys.Unknown(Pairs(
            ("PgMultiMaster:Conflicts:Tables:Any.Table Name:Strategy", "KeepLocal"),
            ("PgMultiMaster:Conflicts:Tables:Any.Table Name:Columns:Whatever Column", "Delta"),
            ("PgMultiMaster:Conflicts:Tables:Any.Table Name:Types:update_missing", "KeepLocal"),
            ("PgMultiMaster:Conflicts:Default:Types:no_such_type", "KeepLocal"),
            ("PgMultiMaster:Conflicts:Default:Priority:0", "east"))));
    }

    [Fact]
    public void Keys_outside_the_section_are_not_checked_and_a_missing_section_is_no_error()
    {
        Assert.Empty(SettingKeys.Unknown(Pairs(("Logging:LogLevel:Default", "Debug"), ("Anything:Else", "1"))));
        Assert.Empty(SettingKeys.Unknown(Pairs()));
    }

    [Fact]
    public void Every_unknown_key_is_reported_once()
    {
        var errors = SettingKeys.Unknown(Json("""
            { "PgMultiMaster": { "Aply": { "BatchSize": 1, "Whatever": 2 }, "Apply": { "BatchSise": 3 }, "Tables": [ "public.*" ] } }
            """));
        Assert.Equal(["PgMultiMaster:Aply is not a setting; did you mean PgMultiMaster:Apply?",
                      "PgMultiMaster:Apply:BatchSise is not a setting; did you mean PgMultiMaster:Apply:BatchSize?"], errors);
    }

    [Fact]
    public void Static_members_of_the_options_classes_are_not_settings() =>
        Assert.Single(SettingKeys.Unknown(Pairs(("PgMultiMaster:Conflicts:Default:Strategies:0", "KeepLocal"))));

    [Fact]
    public void The_sample_appsettings_json_has_only_settings()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "appsettings.json"))) dir = dir.Parent;
        var config = new ConfigurationBuilder().AddJsonFile(Path.Combine(dir!.FullName, "appsettings.json")).Build();
        Assert.Empty(SettingKeys.Unknown(config));
    }

    [Theory]
    [InlineData("BatchSise", "BatchSize", 1)]
    [InlineData("batchsize", "BATCHSIZE", 0)]
    [InlineData("", "abc", 3)]
    [InlineData("kitten", "sitting", 3)]
    public void Edit_distance_counts_single_character_edits_ignoring_case(string a, string b, int distance) =>
        Assert.Equal(distance, Nearest.EditDistance(a.ToUpperInvariant(), b.ToUpperInvariant()));
}
