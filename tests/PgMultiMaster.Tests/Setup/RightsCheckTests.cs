using PgMultiMaster.Configuration;
using PgMultiMaster.Setup;

namespace PgMultiMaster.Tests.Setup;

public sealed class RightsCheckTests
{
    private static readonly RoleRights Everything = new("pgmm", "app", 150000, IsSuperuser: false, CanReplicate: true,
        MissingOriginFunctions: [], CanSetReplicaRole: true, CanCreate: true, ForeignCatalog: []);

    private static NodeCatalog Catalog(RoleRights rights, bool hasCatalog = false, string[]? publications = null) =>
        new(150000, "logical", true, 10, 10, "UTF8", ("1", 1), [], "app", rights, publications ?? [], hasCatalog, new Dictionary<string, string>(), []);

    private static PgMultiMasterOptions Options() => new()
    {
        Nodes = [new() { Name = "east", ConnectionString = "Host=a" }, new() { Name = "west", ConnectionString = "Host=b" }],
        Tables = ["public.*"],
    };

    private static CatalogTable Table(string name, string owner, bool owned) =>
        new("public", name, 'd', true, false, ["id integer"], Owner: owner, Owned: owned);

    private static List<string> Problems(RoleRights rights, bool hasCatalog = false, string[]? publications = null, params CatalogTable[] tables) =>
        RightsCheck.Problems("east", Catalog(rights, hasCatalog, publications), Options(), tables).ToList();

    [Fact]
    public void A_role_with_the_readme_rights_has_no_problem()
    {
        Assert.Empty(Problems(Everything, tables: Table("t", "app_owner", owned: true)));
    }

    [Fact]
    public void Each_missing_origin_function_is_named_with_its_own_grant()
    {
        var problems = Problems(Everything with { MissingOriginFunctions = ["pg_replication_origin_drop(text)", "pg_replication_origin_session_setup(text)"] });
        Assert.Equal([
            "node 'east': role 'pgmm' may not run pg_replication_origin_drop(text), which replication origins need: " +
            "GRANT EXECUTE ON FUNCTION pg_catalog.pg_replication_origin_drop(text) TO \"pgmm\";",
            "node 'east': role 'pgmm' may not run pg_replication_origin_session_setup(text), which replication origins need: " +
            "GRANT EXECUTE ON FUNCTION pg_catalog.pg_replication_origin_session_setup(text) TO \"pgmm\";"], problems);
    }

    [Fact]
    public void The_replica_role_right_is_needed_only_when_apply_uses_it_and_postgresql_14_cannot_grant_it()
    {
        Assert.Contains("GRANT SET ON PARAMETER session_replication_role TO \"pgmm\";", Assert.Single(Problems(Everything with { CanSetReplicaRole = false })));
        var old = Assert.Single(Problems(Everything with { CanSetReplicaRole = false, ServerVersion = 140011 }));
        Assert.Contains("on PostgreSQL 14 only a superuser may", old);
        Assert.DoesNotContain("GRANT", old);

        var options = Options();
        options.Apply.ReplicaRole = false;
        Assert.Empty(RightsCheck.Problems("east", Catalog(Everything with { CanSetReplicaRole = false }), options, []));
    }

    [Fact]
    public void Create_on_the_database_is_needed_only_while_the_schema_or_a_publication_is_missing()
    {
        var noCreate = Everything with { CanCreate = false };
        Assert.Contains("GRANT CREATE ON DATABASE \"app\" TO \"pgmm\";", Assert.Single(Problems(noCreate)));
        Assert.Single(Problems(noCreate, hasCatalog: true, publications: ["pgmm"]));
        Assert.Empty(Problems(noCreate, hasCatalog: true, publications: ["pgmm", "pgmm_insert_only"]));
    }

    [Fact]
    public void Tables_the_role_may_not_publish_are_grouped_by_owner_with_the_grant_of_that_owner()
    {
        var problems = Problems(Everything, tables: [Table("a", "sales", false), Table("b", "sales", false), Table("c", "hr", false), Table("d", "sales", true)]);
        Assert.Equal([
            "node 'east': role 'pgmm' must own \"public\".\"a\", \"public\".\"b\" (owner: 'sales'): only an owner may publish a table and enable its triggers: GRANT \"sales\" TO \"pgmm\";",
            "node 'east': role 'pgmm' must own \"public\".\"c\" (owner: 'hr'): only an owner may publish a table and enable its triggers: GRANT \"hr\" TO \"pgmm\";"], problems);
    }

    [Fact]
    public void A_catalog_made_by_another_role_is_named_with_the_statements_that_hand_it_over()
    {
        var problem = Assert.Single(Problems(Everything with { ForeignCatalog = [("schema", "pgmm", "postgres"), ("function", "pgmm.record_tombstone()", "postgres")] }));
        Assert.Contains("ALTER SCHEMA pgmm OWNER TO \"pgmm\"; ALTER FUNCTION pgmm.record_tombstone() OWNER TO \"pgmm\";", problem);
    }

    [Fact]
    public void A_role_without_replication_is_told_how_to_get_it()
    {
        Assert.Equal("node 'east': role 'pgmm' needs the REPLICATION attribute to create slots and stream: ALTER ROLE \"pgmm\" REPLICATION; (run as a superuser)",
            Assert.Single(Problems(Everything with { CanReplicate = false })));
    }
}
