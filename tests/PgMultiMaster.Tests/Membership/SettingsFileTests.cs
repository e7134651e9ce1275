using Microsoft.Extensions.Configuration;
using PgMultiMaster.Configuration;
using PgMultiMaster.Membership;

namespace PgMultiMaster.Tests.Membership;

/// <summary>Taking a node out of appsettings.json as text: the node and the Priority entries naming it go, nothing else changes.</summary>
public sealed class SettingsFileTests
{
    private const string File = """
        // The cluster. Comments stay.
        {
          "PgMultiMaster": {
            "Cluster": "shop",
            "Node": "east",
            // every node
            "Nodes": [
              { "Name": "east",  "ConnectionString": "Host=east.db;Database=app" },
              { "Name": "west",  "ConnectionString": "Host=west.db;Database=app" }, // the west coast
              { "Name": "north", "ConnectionString": "Host=north.db;Database=app" }
            ],
            "Tables": [ "public.*" ],
            "Conflicts": {
              "Default": { "Strategy": "NodePriority", "Priority": [ "north", "east", "west" ] },
              "Tables": { "public.north": { "Strategy": "NodePriority", "Priority": [ "west", "north" ] } }
            }
          }
        }
        """;

    private static PgMultiMasterOptions Bind(string json)
    {
        var path = Path.GetTempFileName();
        try
        {
            System.IO.File.WriteAllText(path, json);
            return new ConfigurationBuilder().AddJsonFile(path).Build().GetSection("PgMultiMaster").Get<PgMultiMasterOptions>()!;
        }
        finally { System.IO.File.Delete(path); }
    }

    [Theory]
    [InlineData("east", new[] { "west", "north" })]
    [InlineData("west", new[] { "east", "north" })]
    [InlineData("north", new[] { "east", "west" })]
    public void Removing_a_node_leaves_the_others_and_a_file_that_still_reads(string node, string[] left)
    {
        var edit = SettingsFile.RemoveNode(File, node);
        var options = Bind(edit.Text);
        Assert.Equal(left, options.Nodes.Select(n => n.Name));
        Assert.Equal(left.Select(n => $"Host={n}.db;Database=app"), options.Nodes.Select(n => n.ConnectionString));
        Assert.DoesNotContain(node, options.Conflicts.Default.Priority);
        Assert.DoesNotContain(node, options.Conflicts.Tables["public.north"].Priority);
        Assert.Equal(["public.*"], options.Tables);
        Assert.Empty(OptionsValidator.Validate(options, requireNode: false));
    }

    [Fact]
    public void Only_the_node_and_the_priority_entries_naming_it_change()
    {
        var edit = SettingsFile.RemoveNode(File, "north");
        Assert.Equal(["PgMultiMaster:Nodes:2", "PgMultiMaster:Conflicts:Default:Priority:0", "PgMultiMaster:Conflicts:Tables:public.north:Priority:1"],
            edit.Removed.Order(StringComparer.Ordinal).Reverse().OrderBy(p => p.Contains("Conflicts", StringComparison.Ordinal)).ThenBy(p => p.Contains("Tables", StringComparison.Ordinal)));
        // Comments, the table named after the node, and the Node key are left alone.
        Assert.Contains("// The cluster. Comments stay.", edit.Text);
        Assert.Contains("// the west coast", edit.Text);
        Assert.Contains("\"public.north\"", edit.Text);
        Assert.Contains("\"Priority\": [ \"east\", \"west\" ]", edit.Text);
        Assert.Contains("\"Priority\": [ \"west\" ]", edit.Text);
        Assert.DoesNotContain("north.db", edit.Text);
        // Removing it again changes nothing.
        var again = SettingsFile.RemoveNode(edit.Text, "north");
        Assert.Empty(again.Removed);
        Assert.Equal(edit.Text, again.Text);
    }

    [Fact]
    public void The_first_node_goes_with_its_comma_and_the_last_without_the_comment_of_the_one_before()
    {
        Assert.Contains("\"Nodes\": [\n      { \"Name\": \"west\",  \"ConnectionString\": \"Host=west.db;Database=app\" }, // the west coast\n      { \"Name\": \"north\"",
            SettingsFile.RemoveNode(File, "east").Text);
        Assert.Contains("{ \"Name\": \"west\",  \"ConnectionString\": \"Host=west.db;Database=app\" } // the west coast\n    ],",
            SettingsFile.RemoveNode(File, "north").Text);
    }

    [Fact]
    public void Keys_match_case_insensitively_as_configuration_does_and_a_bom_stays()
    {
        var json = "\uFEFF{ \"pgmultimaster\": { \"nodes\": [ { \"name\": \"a\", \"connectionString\": \"Host=a\" }, { \"NAME\": \"b\" } ] } }";
        var edit = SettingsFile.RemoveNode(json, "b");
        Assert.Equal("\uFEFF{ \"pgmultimaster\": { \"nodes\": [ { \"name\": \"a\", \"connectionString\": \"Host=a\" } ] } }", edit.Text);
    }

    [Fact]
    public void A_node_the_file_does_not_list_changes_nothing()
    {
        var edit = SettingsFile.RemoveNode(File, "south");
        Assert.Empty(edit.Removed);
        Assert.Equal(File, edit.Text);
    }

    [Fact]
    public void Values_are_found_by_their_configuration_path_with_byte_offsets()
    {
        var utf8 = System.Text.Encoding.UTF8.GetBytes("""{ "a": [ 1, { "b": "é" } ] }""");
        var values = SettingsFile.Values(utf8);
        Assert.Equal(["", "a", "a:0", "a:1", "a:1:b"], values.Select(v => v.Path));
        var b = values.Single(v => v.Path == "a:1:b");
        Assert.Equal("é", b.Text);
        Assert.Equal("\"é\"", System.Text.Encoding.UTF8.GetString(utf8.AsSpan(b.Start, b.End - b.Start)));
    }
}
