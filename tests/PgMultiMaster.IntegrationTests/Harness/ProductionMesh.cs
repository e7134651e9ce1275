using System.Text.Json;
using System.Text.RegularExpressions;
using Npgsql;
using PgMultiMaster.Configuration;
using Xunit.Abstractions;

namespace PgMultiMaster.IntegrationTests.Harness;

/// <summary>
/// A mesh set up the way production ones are, on <see cref="SecureServersFixture"/>'s servers: the tables belong to
/// an owner role, the application writes as a role with plain DML rights, and pgmm connects as a role made by
/// docs/security.md's role block — no superuser — over TLS that verifies the server, with a password and a client
/// certificate. The harness's superuser only sets things up and looks at the results.
/// </summary>
public sealed partial class ProductionMesh : IAsyncDisposable
{
    public const string Password = "pgmm-Test-Password-7f3a9c";
    public const string AppPassword = "app-Test-Password-b51e02";

    public Mesh Mesh { get; }
    public SecureServersFixture Servers { get; }
    public string PgmmRole => Mesh.Database + "_pgmm";
    public string AppRole => Mesh.Database + "_app";
    public string OwnerRole => Mesh.Database + "_owner";

    /// <summary>A folder whose appsettings.json is the cluster's configuration, for running pgmm as an operator would.</summary>
    public string ConfigDir { get; private set; } = "";

    private ProductionMesh(Mesh mesh, SecureServersFixture servers)
    {
        Mesh = mesh;
        Servers = servers;
    }

    /// <summary>
    /// Creates the databases and <paramref name="schemaSql"/> (as the superuser, as a migration would), hands every
    /// table of <c>public</c> to the owner role, grants the application role DML on them, creates pgmm's role with
    /// docs/security.md's block and points the configuration at it. init is left to the test (<c>pgmm init</c>).
    /// </summary>
    public static async Task<ProductionMesh> CreateAsync(SecureServersFixture servers, ITestOutputHelper output, string schemaSql,
        int nodes = 3, Action<PgMultiMasterOptions>? configure = null)
    {
        var mesh = await Mesh.CreateAsync(servers, output, schemaSql, nodes, configure, init: false);
        var production = new ProductionMesh(mesh, servers);
        var roleBlock = RoleBlock(production.PgmmRole, mesh.Database, production.OwnerRole);
        foreach (var node in mesh.NodeNames)
        {
            await mesh.AdminExecAsync(node, $"""
                CREATE ROLE {production.OwnerRole} NOLOGIN;
                CREATE ROLE {production.AppRole} LOGIN PASSWORD '{AppPassword}';
                DO $$ DECLARE t text; BEGIN
                  FOR t IN SELECT format('%I.%I', schemaname, tablename) FROM pg_tables WHERE schemaname = 'public' LOOP
                    EXECUTE format('ALTER TABLE %s OWNER TO {production.OwnerRole}', t);
                  END LOOP;
                END $$;
                GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA public TO {production.AppRole};
                GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {production.AppRole};
                """);
            await mesh.AdminExecAsync(node, roleBlock);
            mesh.Node(node).ConnectionString = servers.ConnectionString(servers[node], mesh.Database, production.PgmmRole, Password);
        }
        production.WriteConfig();
        return production;
    }

    /// <summary>The application's connection to <paramref name="node"/>: its own role, over TLS.</summary>
    public string AppConnectionString(string node) => Servers.ConnectionString(Servers[node], Mesh.Database, AppRole, AppPassword);

    /// <summary>(Re)writes <see cref="ConfigDir"/>/appsettings.json from the mesh's options.</summary>
    public void WriteConfig()
    {
        if (ConfigDir.Length == 0)
        {
            ConfigDir = Path.Combine(Path.GetTempPath(), "pgmm-prod-" + Guid.NewGuid().ToString("N")[..8]);
            Directory.CreateDirectory(ConfigDir);
        }
        File.WriteAllText(Path.Combine(ConfigDir, "appsettings.json"), JsonSerializer.Serialize(new { PgMultiMaster = Mesh.Options }));
    }

    public Task<(int Code, string Output)> PgmmAsync(params string[] args) => PgmmCli.RunAsync(ConfigDir, args);

    [GeneratedRegex(@"```sql\s*\n(CREATE ROLE pgmm .*?)```", RegexOptions.Singleline)]
    private static partial Regex RoleBlockPattern();

    /// <summary>docs/security.md's block that creates pgmm's role, for these role and database names.</summary>
    public static string RoleBlock(string role, string database, string owner)
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "README.md"))) dir = dir.Parent;
        var readme = File.ReadAllText(Path.Combine(dir!.FullName, "docs", "security.md"));
        var block = RoleBlockPattern().Match(readme);
        Assert.True(block.Success, "docs/security.md has no ```sql block starting with CREATE ROLE pgmm");
        var sql = block.Groups[1].Value;
        sql = Regex.Replace(sql, @"\bapp_owner\b", owner);
        sql = Regex.Replace(sql, @"\bapp\b", database);
        sql = Regex.Replace(sql, @"\bpgmm\b", role);
        return sql.Replace("'choose-a-password'", $"'{Password}'", StringComparison.Ordinal);
    }

    public async ValueTask DisposeAsync()
    {
        await Mesh.DisposeAsync();
        try { Directory.Delete(ConfigDir, recursive: true); } catch (IOException) { }
    }
}
