using Microsoft.Extensions.Configuration;
using PgMultiMaster.Configuration;
using PgMultiMaster.Membership;

namespace PgMultiMaster.Tests.Membership;

/// <summary>
/// Editing appsettings.json as text. Taking a node out: the node and the Priority entries naming it go, nothing else
/// changes. Putting one in: a line after the last node, nothing else changes.
/// </summary>
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

    // AddNode

    private const string North = """{ "Name": "north", "ConnectionString": "Host=north.db;Database=app" }""";
    private const string South = """{ "Name": "south", "ConnectionString": "Host=south.db;Database=app" }""";

    private static System.Text.Json.JsonDocument Parse(string json) =>
        System.Text.Json.JsonDocument.Parse(json, new System.Text.Json.JsonDocumentOptions { CommentHandling = System.Text.Json.JsonCommentHandling.Skip });

    [Fact]
    public void A_node_is_added_on_a_line_of_its_own_after_the_last_indented_like_it_and_nothing_else_changes()
    {
        var text = SettingsFile.AddNode(File, "south", "Host=south.db;Database=app");
        Assert.Equal(File.Replace(North, North + ",\n      " + South, StringComparison.Ordinal), text);
        Assert.Contains("// The cluster. Comments stay.", text);
        Assert.Contains("// every node", text);
        Assert.Contains("}, // the west coast\n", text);
    }

    [Fact]
    public void The_file_with_the_added_node_reads_as_configuration_with_the_node_last()
    {
        var options = Bind(SettingsFile.AddNode(File, "south", "Host=south.db;Database=app")!);
        Assert.Equal(["east", "west", "north", "south"], options.Nodes.Select(n => n.Name));
        Assert.Equal("Host=south.db;Database=app", options.Nodes[^1].ConnectionString);
        Assert.Equal(["north", "east", "west"], options.Conflicts.Default.Priority);
        Assert.Empty(OptionsValidator.Validate(options, requireNode: false));
    }

    [Fact]
    public void Adding_then_removing_a_node_gives_back_the_file()
    {
        var added = SettingsFile.AddNode(File, "south", "Host=south.db;Database=app")!;
        var removed = SettingsFile.RemoveNode(added, "south");
        Assert.Equal(["PgMultiMaster:Nodes:3"], removed.Removed);
        Assert.Equal(File, removed.Text);
    }

    [Fact]
    public void Nodes_listed_on_one_line_get_the_new_one_on_that_line()
    {
        var json = """{ "PgMultiMaster": { "Nodes": [ { "Name": "a", "ConnectionString": "Host=a" } ] } }""";
        Assert.Equal("""{ "PgMultiMaster": { "Nodes": [ { "Name": "a", "ConnectionString": "Host=a" }, { "Name": "b", "ConnectionString": "Host=b" } ] } }""",
            SettingsFile.AddNode(json, "b", "Host=b"));
    }

    [Theory]
    [InlineData("[]")]
    [InlineData("[ ]")]
    [InlineData("[\n    ]")]
    public void An_empty_nodes_array_gets_the_node_as_its_only_element(string empty)
    {
        var json = "{\n  \"PgMultiMaster\": {\n    \"Nodes\": " + empty + ",\n    \"Tables\": [ \"public.*\" ]\n  }\n}";
        var text = SettingsFile.AddNode(json, "a", "Host=a");
        Assert.NotNull(text);
        Assert.StartsWith("{\n  \"PgMultiMaster\": {\n    \"Nodes\": [ { \"Name\": \"a\", \"ConnectionString\": \"Host=a\" }", text);
        Assert.EndsWith("],\n    \"Tables\": [ \"public.*\" ]\n  }\n}", text);
        var options = Bind(text);
        Assert.Equal("a", Assert.Single(options.Nodes).Name);
        Assert.Equal("Host=a", options.Nodes[0].ConnectionString);
    }

    [Fact]
    public void A_comment_in_an_empty_nodes_array_stays()
    {
        var json = "{\n  \"PgMultiMaster\": {\n    \"Nodes\": [\n      // none yet: pgmm node add writes them here\n    ]\n  }\n}";
        var text = SettingsFile.AddNode(json, "a", "Host=a");
        Assert.NotNull(text);
        Assert.Contains("// none yet: pgmm node add writes them here", text);
        Assert.Equal("Host=a", Assert.Single(Bind(text).Nodes).ConnectionString);
    }

    [Fact]
    public void A_comment_after_the_last_node_stays_with_that_node()
    {
        var json = File.Replace(North, North + " // the north", StringComparison.Ordinal);
        var text = SettingsFile.AddNode(json, "south", "Host=south.db;Database=app");
        Assert.NotNull(text);
        Assert.Contains(North + ", // the north\n      " + South + "\n    ]", text);
        Assert.Equal(["east", "west", "north", "south"], Bind(text).Nodes.Select(n => n.Name));
        Assert.Equal(json, SettingsFile.RemoveNode(text, "south").Text);
        // With a trailing comma before the comment: that comma is the one between them.
        var withComma = File.Replace(North, North + ", // the north", StringComparison.Ordinal);
        Assert.Contains(North + ", // the north\n      " + South + "\n    ]", SettingsFile.AddNode(withComma, "south", "Host=south.db;Database=app"));
        // On Windows line endings too.
        Assert.Contains(North + ", // the north\r\n      " + South + "\r\n    ]", SettingsFile.AddNode(json.ReplaceLineEndings("\r\n"), "south", "Host=south.db;Database=app"));
    }

    [Fact]
    public void A_trailing_comma_after_the_last_node_is_no_trouble()
    {
        var json = File.Replace(North, North + ",", StringComparison.Ordinal);
        var text = SettingsFile.AddNode(json, "south", "Host=south.db;Database=app");
        Assert.NotNull(text);
        Assert.Equal(["east", "west", "north", "south"], Bind(text).Nodes.Select(n => n.Name));
    }

    [Theory]
    [InlineData("""{ "PgMultiMaster": { "Cluster": "shop", "Node": "east" } }""")]
    [InlineData("""{ "PgMultiMaster": { "Nodes": null } }""")]
    [InlineData("""{ "PgMultiMaster": { "Nodes": { "Name": "a" } } }""")]
    [InlineData("""{ "Nodes": [ { "Name": "a", "ConnectionString": "Host=a" } ], "Other": { "PgMultiMaster": { } } }""")]
    [InlineData("""{ "Other": { "PgMultiMaster": { "Nodes": [ ] } } }""")]
    [InlineData("{ }")]
    public void A_file_without_a_nodes_array_gets_nothing(string json) => Assert.Null(SettingsFile.AddNode(json, "b", "Host=b"));

    [Theory]
    [InlineData("east")]
    [InlineData("west")]
    [InlineData("north")]
    public void A_node_the_file_already_lists_gets_nothing(string node) => Assert.Null(SettingsFile.AddNode(File, node, "Host=elsewhere"));

    [Fact]
    public void A_listed_node_is_found_whatever_the_case_of_the_keys()
    {
        var json = """{ "pgmultimaster": { "nodes": [ { "name": "a", "connectionString": "Host=a" } ] } }""";
        Assert.Null(SettingsFile.AddNode(json, "a", "Host=a"));
        Assert.Equal("""{ "pgmultimaster": { "nodes": [ { "name": "a", "connectionString": "Host=a" }, { "Name": "b", "ConnectionString": "Host=b" } ] } }""",
            SettingsFile.AddNode(json, "b", "Host=b"));
    }

    [Fact]
    public void A_name_elsewhere_in_the_file_is_not_a_listed_node()
    {
        // "south" as a cluster name, a priority entry and a table's Name: none of them is PgMultiMaster:Nodes:<i>:Name.
        var json = """{ "PgMultiMaster": { "Cluster": "south", "Nodes": [ { "Name": "a", "ConnectionString": "Host=a" } ], "Other": [ { "Name": "south" } ] } }""";
        Assert.NotNull(SettingsFile.AddNode(json, "south", "Host=south"));
    }

    [Theory]
    [InlineData("Host=a;Password=\"p;w\"")]
    [InlineData("Host=a;Password='it''s'")]
    [InlineData(@"Host=a;Password=back\slash\\;Search Path=""x\""y""")]
    [InlineData("Host=a;Password=<&+>\t\u00e9\u20ac\U0001F600")]
    [InlineData("Host=a;Password=line\nbreak\u0001")]
    public void The_connection_string_is_written_as_a_json_string_and_reads_back_unchanged(string connectionString)
    {
        var text = SettingsFile.AddNode(File, "south", connectionString);
        Assert.NotNull(text);
        using (var document = Parse(text))
        {
            var last = document.RootElement.GetProperty("PgMultiMaster").GetProperty("Nodes").EnumerateArray().Last();
            Assert.Equal("south", last.GetProperty("Name").GetString());
            Assert.Equal(connectionString, last.GetProperty("ConnectionString").GetString());
        }
        Assert.Equal(connectionString, Bind(text).Nodes[^1].ConnectionString);
        // On one line, whatever it holds.
        Assert.Single(text.Split('\n'), line => line.Contains("\"south\"", StringComparison.Ordinal));
    }

    [Fact]
    public void A_bom_stays_and_text_before_the_nodes_outside_ascii_does_not_shift_the_edit()
    {
        var json = "\uFEFF// Noeuds: l'été, 東京 \U0001F600\n" + File;
        var text = SettingsFile.AddNode(json, "south", "Host=south.db;Database=app");
        Assert.Equal(json.Replace(North, North + ",\n      " + South, StringComparison.Ordinal), text);
    }

    [Fact]
    public void Windows_line_endings_stay_windows_line_endings()
    {
        var json = File.ReplaceLineEndings("\r\n");
        var text = SettingsFile.AddNode(json, "south", "Host=south.db;Database=app");
        Assert.Equal(json.Replace(North, North + ",\r\n      " + South, StringComparison.Ordinal), text);
    }
}
