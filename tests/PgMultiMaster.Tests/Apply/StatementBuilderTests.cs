using System.Collections.Immutable;
using PgMultiMaster.Apply;
using PgMultiMaster.Decoding;

namespace PgMultiMaster.Tests.Apply;

public sealed class StatementBuilderTests
{
    private static readonly RelationInfo Orders = new(42, "Sales Dept", "Order \"Items\"", ReplicaIdentity.Default,
        [new ColumnInfo("id", 23, true), new ColumnInfo("line", 23, true), new ColumnInfo("Body", 25, false)]);

    private static TargetTable Keyed(RelationInfo r) =>
        new(r, r.Columns.Select((c, i) => (c, i)).Where(x => x.c.IsKey).Select(x => x.i).ToArray(), false);

    private static Cell[] Row(params string?[] values) => values.Select(v => v is null ? Cell.Null : v == "~" ? Cell.Unchanged : Cell.Of(v)).ToArray();

    [Fact]
    public void Inserts_quote_every_identifier_and_keep_the_source_identity_values()
    {
        var cmd = new StatementBuilder().Build(Keyed(Orders), new RowChange(ChangeKind.Insert, Orders, null, Row("1", "2", "x")));
        Assert.Equal("INSERT INTO \"Sales Dept\".\"Order \"\"Items\"\"\" (\"id\", \"line\", \"Body\") OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3)", cmd.CommandText);
        Assert.Equal(["1", "2", "x"], cmd.Parameters.Select(p => p.Value));
    }

    [Fact]
    public void Updates_leave_unchanged_toast_columns_out()
    {
        var cmd = new StatementBuilder().Build(Keyed(Orders), new RowChange(ChangeKind.Update, Orders, null, Row("1", "2", "~")));
        Assert.Equal("UPDATE \"Sales Dept\".\"Order \"\"Items\"\"\" SET \"id\" = $1, \"line\" = $2 WHERE \"id\" = $3 AND \"line\" = $4", cmd.CommandText);
        Assert.Equal(["1", "2", "1", "2"], cmd.Parameters.Select(p => p.Value));
    }

    [Fact]
    public void A_key_change_finds_the_row_by_its_old_key()
    {
        var cmd = new StatementBuilder().Build(Keyed(Orders), new RowChange(ChangeKind.Update, Orders, Row("1", "2", null), Row("1", "3", "b")));
        Assert.EndsWith("WHERE \"id\" = $4 AND \"line\" = $5", cmd.CommandText);
        Assert.Equal(["1", "3", "b", "1", "2"], cmd.Parameters.Select(p => p.Value));
    }

    [Fact]
    public void Nulls_are_sent_as_database_nulls()
    {
        var cmd = new StatementBuilder().Build(Keyed(Orders), new RowChange(ChangeKind.Insert, Orders, null, Row("1", "2", null)));
        Assert.Equal(DBNull.Value, cmd.Parameters[2].Value);
    }

    [Fact]
    public void Deletes_use_the_key_only()
    {
        var cmd = new StatementBuilder().Build(Keyed(Orders), new RowChange(ChangeKind.Delete, Orders, Row("7", "8", null), null));
        Assert.Equal("DELETE FROM \"Sales Dept\".\"Order \"\"Items\"\"\" WHERE \"id\" = $1 AND \"line\" = $2", cmd.CommandText);
    }

    [Fact]
    public void Without_a_key_exactly_one_identical_row_is_changed_comparing_null_safely()
    {
        var full = Orders with { Identity = ReplicaIdentity.Full, Columns = [.. Orders.Columns.Select(c => c with { IsKey = true })] };
        var table = new TargetTable(full, [0, 1, 2], true);
        var cmd = new StatementBuilder().Build(table, new RowChange(ChangeKind.Delete, full, Row("1", null, "x"), null));
        Assert.Equal(
            "DELETE FROM \"Sales Dept\".\"Order \"\"Items\"\"\" WHERE ctid = (SELECT ctid FROM \"Sales Dept\".\"Order \"\"Items\"\"\" WHERE " +
            "\"id\"::text IS NOT DISTINCT FROM $1::text AND \"line\"::text IS NOT DISTINCT FROM $2::text AND \"Body\"::text IS NOT DISTINCT FROM $3::text LIMIT 1)",
            cmd.CommandText);
    }

    [Fact]
    public void Sql_is_reused_for_the_same_shape_and_rebuilt_after_the_relation_changes()
    {
        var builder = new StatementBuilder();
        var a = builder.Build(Keyed(Orders), new RowChange(ChangeKind.Insert, Orders, null, Row("1", "2", "x")));
        var b = builder.Build(Keyed(Orders), new RowChange(ChangeKind.Insert, Orders, null, Row("3", "4", "y")));
        Assert.Same(a.CommandText, b.CommandText);

        builder.Forget(Orders.Id);
        var renamed = Orders with { Columns = ImmutableArray.Create(Orders.Columns[0], Orders.Columns[1], new ColumnInfo("body2", 25, false)) };
        var c = builder.Build(Keyed(renamed), new RowChange(ChangeKind.Insert, renamed, null, Row("1", "2", "x")));
        Assert.Contains("\"body2\"", c.CommandText);
    }
}
