using System.Diagnostics;
using PgMultiMaster.IntegrationTests.Harness;
using Xunit.Abstractions;

namespace PgMultiMaster.IntegrationTests;

/// <summary>
/// What <c>pgmm check</c> says about pgmm's role and its connections, on servers set up as production ones
/// (<see cref="ProductionMesh"/>): each missing right named with the statement that grants it, and a server
/// certificate that does not verify.
/// </summary>
[Collection(SecureServersCollection.Name)]
public sealed class LeastPrivilegeTests(SecureServersFixture servers, ITestOutputHelper output)
{
    public static TheoryData<string, string, string> MissingRights() => new()
    {
        // revoke (as the superuser), what check says, the statement it names
        { "ALTER ROLE {role} NOREPLICATION", "needs the REPLICATION attribute", "ALTER ROLE \"{role}\" REPLICATION;" },
        { "REVOKE EXECUTE ON FUNCTION pg_catalog.pg_replication_origin_create(text) FROM {role}",
          "may not run pg_replication_origin_create(text)", "GRANT EXECUTE ON FUNCTION pg_catalog.pg_replication_origin_create(text) TO \"{role}\";" },
        { "REVOKE EXECUTE ON FUNCTION pg_catalog.pg_replication_origin_drop(text) FROM {role}",
          "may not run pg_replication_origin_drop(text)", "GRANT EXECUTE ON FUNCTION pg_catalog.pg_replication_origin_drop(text) TO \"{role}\";" },
        { "REVOKE EXECUTE ON FUNCTION pg_catalog.pg_replication_origin_session_setup(text) FROM {role}",
          "may not run pg_replication_origin_session_setup(text)", "GRANT EXECUTE ON FUNCTION pg_catalog.pg_replication_origin_session_setup(text) TO \"{role}\";" },
        { "REVOKE EXECUTE ON FUNCTION pg_catalog.pg_replication_origin_session_progress(boolean) FROM {role}",
          "may not run pg_replication_origin_session_progress(boolean)", "GRANT EXECUTE ON FUNCTION pg_catalog.pg_replication_origin_session_progress(boolean) TO \"{role}\";" },
        { "REVOKE EXECUTE ON FUNCTION pg_catalog.pg_replication_origin_xact_setup(pg_lsn, timestamptz) FROM {role}",
          "may not run pg_replication_origin_xact_setup(pg_lsn, timestamp with time zone)",
          "GRANT EXECUTE ON FUNCTION pg_catalog.pg_replication_origin_xact_setup(pg_lsn, timestamp with time zone) TO \"{role}\";" },
        { "REVOKE SET ON PARAMETER session_replication_role FROM {role}",
          "may not SET session_replication_role", "GRANT SET ON PARAMETER session_replication_role TO \"{role}\";" },
        { "REVOKE CREATE ON DATABASE {database} FROM {role}",
          "may not create the pgmm schema and the publications", "GRANT CREATE ON DATABASE \"{database}\" TO \"{role}\";" },
        { "REVOKE {owner} FROM {role}", "must own \"public\".\"t\" (owner: '{owner}')", "GRANT \"{owner}\" TO \"{role}\";" },
    };

    [Theory]
    [MemberData(nameof(MissingRights))]
    public async Task Check_names_a_missing_right_and_the_statement_that_grants_it(string revoke, string problem, string grant)
    {
        await using var prod = await ProductionMesh.CreateAsync(servers, output, "CREATE TABLE public.t (id int PRIMARY KEY);", nodes: 2);
        string Named(string s) => s.Replace("{role}", prod.PgmmRole).Replace("{database}", prod.Mesh.Database).Replace("{owner}", prod.OwnerRole);
        var (code, text) = await prod.PgmmAsync("check");
        Assert.True(code == 0, "docs/security.md's rights are not enough:\n" + text);

        await prod.Mesh.AdminExecAsync("east", Named(revoke));
        (code, text) = await prod.PgmmAsync("check");
        Assert.Equal(2, code);
        Assert.Contains($"node 'east': role '{prod.PgmmRole}' {Named(problem)}", text);
        Assert.Contains(Named(grant), text);
        Assert.DoesNotContain("node 'west'", text);

        // The statement check names is the fix.
        await prod.Mesh.AdminExecAsync("east", Named(grant));
        (code, text) = await prod.PgmmAsync("check");
        Assert.True(code == 0, text);
    }

    [Fact]
    public async Task A_server_certificate_from_another_ca_fails_init_within_seconds_naming_the_node_and_creates_nothing()
    {
        await using var prod = await ProductionMesh.CreateAsync(servers, output, "CREATE TABLE public.t (id int PRIMARY KEY);", nodes: 2);
        var other = TestCertificates.Create(Path.Combine(Path.GetTempPath(), "pgmm-other-ca-" + Guid.NewGuid().ToString("N")[..8]), "another CA");
        prod.Mesh.Node("west").ConnectionString = servers.ConnectionString(servers["west"], prod.Mesh.Database, prod.PgmmRole,
            ProductionMesh.Password, rootCertificate: other.CaFile);
        prod.WriteConfig();

        var clock = Stopwatch.StartNew();
        var (code, text) = await prod.PgmmAsync("init");
        output.WriteLine($"init took {clock.Elapsed.TotalSeconds:0.0} s:\n{text}");
        Assert.Equal(2, code);
        Assert.Contains("node 'west': cannot connect: the server's TLS certificate could not be verified", text);
        Assert.DoesNotContain("node 'east'", text);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"init took {clock.Elapsed}");
        foreach (var node in prod.Mesh.NodeNames)
            Assert.Equal(0L, await prod.Mesh.AdminScalarAsync<long>(node,
                "SELECT (SELECT count(*) FROM pg_namespace WHERE nspname = 'pgmm') + (SELECT count(*) FROM pg_publication) " +
                "+ (SELECT count(*) FROM pg_replication_slots WHERE database = current_database())"));
    }
}
