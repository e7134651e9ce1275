using PgMultiMaster.Diagnostics;

namespace PgMultiMaster.Tests.Diagnostics;

public sealed class TableDefinitionTests
{
    private static TableDefinition Def(string key = "id", string identity = "default", params (string Name, string Definition)[] columns) =>
        new(columns.ToDictionary(c => c.Name, c => c.Definition), key.Length == 0 ? [] : key.Split(','), identity);

    private static readonly string[] Nodes = ["east", "west", "north"];

    [Fact]
    public void Equal_definitions_have_no_differences()
    {
        var d = Def(columns: [("id", "integer NOT NULL"), ("v", "text")]);
        Assert.Empty(TableDefinition.Differences(Nodes, [d, d, d]));
    }

    [Fact]
    public void Each_differing_column_key_and_replica_identity_is_a_line_with_the_nodes_that_agree_grouped()
    {
        var east = Def(columns: [("id", "integer NOT NULL"), ("note", "text"), ("v", "text")]);
        var west = Def(key: "id,region", columns: [("id", "integer NOT NULL"), ("note", "integer"), ("v", "text")]);
        var north = Def(identity: "full", columns: [("id", "integer NOT NULL"), ("v", "text DEFAULT 'x'::text")]);

        Assert.Equal(
        [
            "column note: east text; west integer; north (missing)",
            "column v: east, west text; north text DEFAULT 'x'::text",
            "key: east, north (id); west (id, region)",
            "replica identity: east, west default; north full",
        ], TableDefinition.Differences(Nodes, [east, west, north]));
    }

    [Fact]
    public void A_table_missing_on_a_node_is_one_line()
    {
        var d = Def(columns: [("id", "integer NOT NULL")]);
        Assert.Equal(["table: east, north exists; west (no table)"], TableDefinition.Differences(Nodes, [d, null, d]));
    }

    [Fact]
    public void Diff_reports_a_table_whose_definition_differs_even_when_its_rows_match()
    {
        var row = new ClusterDiff.TableRow("public.t", [new("public.t", 0, ""), new("public.t", 0, "")], ["column note: east text; west integer"]);
        var diff = new ClusterDiff(["east", "west"], [row]);

        Assert.False(diff.AllMatch);
        var text = diff.Render();
        Assert.Contains("| NO (schema)", text);
        Assert.Contains("public.t: the definition differs between nodes\n  column note: east text; west integer", text.ReplaceLineEndings("\n"));
    }
}
