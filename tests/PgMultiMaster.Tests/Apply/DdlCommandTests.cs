using System.Collections.Immutable;
using PgMultiMaster.Apply;
using PgMultiMaster.Decoding;

namespace PgMultiMaster.Tests.Apply;

public sealed class DdlCommandTests
{
    private const string Before = """{"columns": {"id": {"type": "integer", "default": null, "not_null": true}}, "indexes": {"t_pkey": "CREATE UNIQUE INDEX t_pkey ON public.t USING btree (id)"}}""";

    private static string With(string column) =>
        Before.Replace("}}, \"indexes\"", $"}}, {column}}}, \"indexes\"", StringComparison.Ordinal);

    [Fact]
    public void A_target_that_holds_everything_the_source_has_already_has_the_change()
    {
        Assert.Null(DdlCommand.Difference(Before, Before, "east", "west"));
        // What only the target has is its own change, checked on its way to the source.
        Assert.Null(DdlCommand.Difference(Before, With("\"extra\": {\"type\": \"text\", \"default\": null, \"not_null\": false}"), "east", "west"));
    }

    [Fact]
    public void A_column_of_another_type_or_missing_on_the_target_is_named_with_both_nodes()
    {
        var source = With("\"c\": {\"type\": \"integer\", \"default\": \"0\", \"not_null\": false}");
        var target = With("\"c\": {\"type\": \"text\", \"default\": null, \"not_null\": false}");
        Assert.Equal("column c is integer DEFAULT 0 on 'east' but text on 'west'", DdlCommand.Difference(source, target, "east", "west"));
        Assert.Equal("column c only on 'east'", DdlCommand.Difference(source, Before, "east", "west"));
        Assert.Equal("the table exists on 'east' only", DdlCommand.Difference(source, null, "east", "west"));
    }

    [Theory]
    [InlineData("CREATE INDEX CONCURRENTLY i ON t (c)", "CREATE INDEX i ON t (c)")]
    [InlineData("create unique index concurrently if not exists i on t (c)", "create unique index if not exists i on t (c)")]
    [InlineData("DROP INDEX CONCURRENTLY i", "DROP INDEX i")]
    [InlineData("ALTER TABLE t ADD COLUMN concurrently int", "ALTER TABLE t ADD COLUMN concurrently int")]
    public void Concurrent_index_builds_run_as_plain_ones_inside_the_applied_transaction(string command, string expected) =>
        Assert.Equal(expected, Command(command).TargetCommand);

    [Theory]
    [InlineData("DROP TABLE t", "42P01", true)]
    [InlineData("  drop index i", "42704", true)]
    [InlineData("ALTER TABLE t ADD COLUMN c int", "42701", false)]
    [InlineData("DROP TABLE t", "42P07", false)]
    public void Only_a_drop_of_what_is_already_gone_counts_as_applied_without_a_shape(string command, string sqlState, bool gone) =>
        Assert.Equal(gone, Command(command).AlreadyGone(sqlState));

    [Fact]
    public void The_command_is_read_from_the_ddl_log_row_by_column_name()
    {
        string[] names = ["id", "command", "search_path", "role_name", "tag", "object", "shape", "at"];
        var relation = new RelationInfo(1, "pgmm", "ddl_log", ReplicaIdentity.Default, [.. names.Select(n => new ColumnInfo(n, 25, n == "id"))]);
        Assert.True(DdlCommand.IsLog(relation));
        var row = new[] { Cell.Of("7"), Cell.Of("ALTER TABLE t ADD c int"), Cell.Of("\"$user\", public"), Cell.Of("app_owner"), Cell.Of("ALTER TABLE"),
            Cell.Of("public.t"), Cell.Null, Cell.Of("2026-01-01") };
        var ddl = DdlCommand.From(new RowChange(ChangeKind.Insert, relation, null, row));
        Assert.Equal(new DdlCommand("ALTER TABLE t ADD c int", "\"$user\", public", "app_owner", "ALTER TABLE", "public.t", null), ddl);
        Assert.False(DdlCommand.IsLog(relation with { Schema = "public" }));
    }

    private static DdlCommand Command(string text) => new(text, "public", "app", "", null, null);
}
