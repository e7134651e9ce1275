using PgMultiMaster.Apply;
using PgMultiMaster.Configuration;
using PgMultiMaster.Conflicts;
using PgMultiMaster.Decoding;

namespace PgMultiMaster.Tests.Apply;

/// <summary>
/// The statements written for identity and generated columns: PostgreSQL refuses any value for a generated column and
/// any UPDATE of a <c>GENERATED ALWAYS</c> identity column but to DEFAULT (428C9, even to the value it has).
/// </summary>
public sealed class ChangeStatementsTests
{
    // id: GENERATED ALWAYS AS IDENTITY key; name: plain; total: GENERATED ALWAYS AS (…) STORED (sent only when a
    // PostgreSQL 18 publication publishes generated columns, or when the source's column is a plain one).
    private static readonly TargetTable Priced = Table(
        [new("id", 23, true), new("name", 25, false), new("total", 1700, false)],
        [ColumnGeneration.AlwaysIdentity, ColumnGeneration.None, ColumnGeneration.Generated]);

    // code: the key; seq: a GENERATED ALWAYS identity column that is not the key.
    private static readonly TargetTable Numbered = Table(
        [new("code", 25, true), new("seq", 23, false), new("name", 25, false)],
        [ColumnGeneration.None, ColumnGeneration.AlwaysIdentity, ColumnGeneration.None]);

    private static TargetTable Table(ColumnInfo[] columns, ColumnGeneration[] generation)
    {
        var relation = new RelationInfo(1, "public", "t", ReplicaIdentity.Default, [.. columns]);
        string[] types = [.. columns.Select(c => c.TypeOid == 23 ? "integer" : c.TypeOid == 25 ? "text" : "numeric")];
        return new TargetTable(relation, [0], false, types, types, [.. columns.Select(_ => (string?)"=")],
            new TableRules(new ConflictOptions(), "public.t"), Generation: generation);
    }

    private static readonly ApplyContext Context = new()
    {
        SourceNode = "east", OriginName = "pgmm_east", SourceRoident = 1, NodeByRoident = new Dictionary<uint, string> { [1] = "east" },
    };

    private static Cell[] Row(params string[] values) => [.. values.Select(Cell.Of)];

    [Fact]
    public void An_insert_writes_identity_columns_with_overriding_system_value_and_leaves_generated_columns_out()
    {
        var insert = ChangeStatements.Insert(Priced, Row("1", "a", "2.5")).CommandText;
        Assert.Equal("""INSERT INTO "public"."t" ("id", "name") OVERRIDING SYSTEM VALUE VALUES ($1::integer, $2::text)""", insert);

        var guarded = ChangeStatements.Guarded(Priced, new RowChange(ChangeKind.Insert, Priced.Relation, null, Row("1", "a", "2.5")), Context).CommandText;
        Assert.StartsWith("""WITH w AS (INSERT INTO "public"."t" ("id", "name") OVERRIDING SYSTEM VALUE SELECT $1::integer, $2::text WHERE""", guarded);

        var run = ChangeStatements.InsertRun(Priced, [new RowChange(ChangeKind.Insert, Priced.Relation, null, Row("1", "a", "2.5"))]).CommandText;
        Assert.Contains("""INSERT INTO "public"."t" ("id", "name") OVERRIDING SYSTEM VALUE SELECT i.c0::integer, i.c1::text FROM input i""", run);
    }

    [Fact]
    public void An_update_never_assigns_an_always_identity_key_nor_a_generated_column()
    {
        // insert_exists resolved for the remote row: an update of the row found by the key it already has.
        var update = ChangeStatements.Update(Priced, new RowChange(ChangeKind.Update, Priced.Relation, null, Row("1", "b", "5")), null).CommandText;
        Assert.Equal("""UPDATE "public"."t" t SET "name" = $1::text WHERE t."id" = $2::integer""", update);

        var guarded = ChangeStatements.Guarded(Priced, new RowChange(ChangeKind.Update, Priced.Relation, null, Row("1", "b", "5")), Context).CommandText;
        Assert.StartsWith("""WITH w AS (UPDATE "public"."t" t SET "name" = $1::text WHERE t."id" = $2::integer AND""", guarded);
    }

    [Fact]
    public void A_guarded_update_applies_only_where_a_non_key_always_identity_column_holds_the_value_sent()
    {
        var change = new RowChange(ChangeKind.Update, Numbered.Relation, null, Row("a", "7", "x"));
        var guarded = ChangeStatements.Guarded(Numbered, change, Context).CommandText;
        Assert.StartsWith("""WITH w AS (UPDATE "public"."t" t SET "code" = $1::text, "name" = $2::text WHERE t."code" = $3::text AND t."seq" IS NOT DISTINCT FROM $4::integer AND""", guarded);
        Assert.Null(ChangeStatements.IdentityChange(Numbered, change));
    }

    [Fact]
    public void Only_a_new_value_for_an_always_identity_column_that_cannot_be_inserted_whole_is_an_identity_change()
    {
        // A key change with the whole new row: a delete and an insert.
        var moved = new RowChange(ChangeKind.Update, Priced.Relation, Row("1", "a", "1"), Row("4", "a", "1"));
        Assert.True(ChangeStatements.IsKeyChange(Priced, moved));
        Assert.Null(ChangeStatements.IdentityChange(Priced, moved));

        // Without its unchanged TOAST values the new row cannot be inserted, and no UPDATE may set the key.
        var partial = moved with { New = [Cell.Of("4"), Cell.Unchanged, Cell.Of("1")] };
        Assert.False(ChangeStatements.IsKeyChange(Priced, partial));
        Assert.Equal((0, Cell.Of("1")), ChangeStatements.IdentityChange(Priced, partial));
        Assert.Contains("PostgreSQL lets an UPDATE set it only to DEFAULT (428C9)", ChangeStatements.IdentityChangeReason(Priced, partial, 0, Cell.Of("1")));

        // A non-key identity column whose old value the change carries (REPLICA IDENTITY FULL).
        var renumbered = new RowChange(ChangeKind.Update, Numbered.Relation, Row("a", "1", "x"), Row("a", "9", "x"));
        Assert.Equal((1, Cell.Of("1")), ChangeStatements.IdentityChange(Numbered, renumbered));
        Assert.Null(ChangeStatements.IdentityChange(Numbered, renumbered with { New = Row("a", "1", "y") }));
    }
}
