using Npgsql;
using PgMultiMaster.Sql;

namespace PgMultiMaster.Tests.Sql;

public sealed class ConnectionStringsTests
{
    public static TheoryData<string> Kinds() => ["replication", "apply", "admin"];

    private static string For(string kind, string configured) => kind switch
    {
        "replication" => ConnectionStrings.ForReplication(configured, "pgmm test"),
        "apply" => ConnectionStrings.ForApply(configured, "pgmm test"),
        _ => ConnectionStrings.ForAdmin(configured, "pgmm test"),
    };

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Every_session_pgmm_opens_looks_names_up_in_pg_catalog_only_whatever_the_configured_options(string kind)
    {
        var options = new NpgsqlConnectionStringBuilder(For(kind, "Host=a;Username=pgmm;Options='-c search_path=public -c work_mem=64MB'")).Options!;
        // The server applies -c options in order: the last search_path wins over the operator's.
        Assert.EndsWith("-c search_path=pg_catalog,pg_temp", options, StringComparison.Ordinal);
        Assert.StartsWith("-c search_path=public -c work_mem=64MB ", options, StringComparison.Ordinal);
        Assert.Contains("-c TimeZone=UTC", options, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Tls_settings_of_the_configured_string_are_kept(string kind)
    {
        var b = new NpgsqlConnectionStringBuilder(For(kind, "Host=a;SSL Mode=VerifyFull;Root Certificate=/ca.crt;SSL Certificate=/c.crt;SSL Key=/c.key"));
        Assert.Equal(SslMode.VerifyFull, b.SslMode);
        Assert.Equal("/ca.crt", b.RootCertificate);
        Assert.Equal("/c.crt", b.SslCertificate);
        Assert.Equal("/c.key", b.SslKey);
    }
}
