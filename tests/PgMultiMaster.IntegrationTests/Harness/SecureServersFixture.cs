using Npgsql;
using PgMultiMaster.LocalServers;

namespace PgMultiMaster.IntegrationTests.Harness;

/// <summary>
/// Three servers set up the way production ones are: TLS with a throwaway CA made here, and TCP connections
/// admitted only over TLS with a password and a client certificate whose CN is the user
/// (<c>hostssl … scram-sha-256 clientcert=verify-full</c>, nothing else). The harness's own superuser, which
/// creates databases and roles and looks at the results, connects over the Unix socket.
/// </summary>
public sealed class SecureServersFixture : ServersFixture
{
    private const string Hba = """
        # The harness's superuser, over the Unix socket only.
        local   all  all                 trust
        # Everyone else: TLS, a password and a client certificate for the user.
        hostssl all  all  127.0.0.1/32   scram-sha-256 clientcert=verify-full
        """;

    public TestCertificates Certificates { get; private set; } = null!;

    protected override bool CanUseDocker => false;
    protected override string ClusterPrefix => "s";

    public override Task InitializeAsync()
    {
        Certificates = TestCertificates.Create(Path.Combine(Root, "certificates"));
        return base.InitializeAsync();
    }

    protected override Task<LocalPostgresServer> StartLocalAsync(string name, string root, string binDir)
    {
        var (certificate, key) = Certificates.IssueServer();
        var files = new Dictionary<string, string>
        {
            ["server.crt"] = certificate, ["server.key"] = key, ["ca.crt"] = Certificates.CaPem, ["pg_hba.conf"] = Hba,
        };
        return LocalPostgresServer.StartNewAsync(name, root, binDir,
            [.. LocalTestServer.Settings, "ssl=on", "ssl_cert_file=server.crt", "ssl_key_file=server.key", "ssl_ca_file=ca.crt"],
            files: files, superuserOverSocket: true);
    }

    /// <summary>
    /// How <paramref name="role"/> connects to <paramref name="database"/> on <paramref name="server"/>: over TLS that
    /// verifies the server's certificate and name against the test CA, with the role's password and client certificate.
    /// </summary>
    public string ConnectionString(ITestServer server, string database, string role, string password, string? rootCertificate = null)
    {
        var (certificate, key) = Certificates.IssueClientFiles(role);
        return new NpgsqlConnectionStringBuilder
        {
            Host = "127.0.0.1", Port = new NpgsqlConnectionStringBuilder(server.ConnectionString(database)).Port, Database = database,
            Username = role, Password = password, SslMode = SslMode.VerifyFull, RootCertificate = rootCertificate ?? Certificates.CaFile,
            SslCertificate = certificate, SslKey = key, Timeout = 15, CommandTimeout = 120,
        }.ConnectionString;
    }
}

[CollectionDefinition(Name)]
public sealed class SecureServersCollection : ICollectionFixture<SecureServersFixture>
{
    public const string Name = "secure servers";
}
