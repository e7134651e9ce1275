using Npgsql;
using PgMultiMaster.Sql;

namespace PgMultiMaster.Tests.Sql;

public sealed class ConnectionStringsTests
{
    public static TheoryData<string> Kinds() => ["replication", "apply", "admin", "probe"];

    private static string For(string kind, string configured) => kind switch
    {
        "replication" => ConnectionStrings.ForReplication(configured, "pgmm test"),
        "apply" => ConnectionStrings.ForApply(configured, "pgmm test"),
        "probe" => ConnectionStrings.ForProbe(configured, "pgmm test", TimeSpan.FromSeconds(60)),
        _ => ConnectionStrings.ForAdmin(configured, "pgmm test"),
    };

    [Fact]
    public void The_apply_connection_has_no_command_timeout_and_a_probe_gives_up_quickly()
    {
        // A statement applied may rightly run long: a silent server is noticed by ConnectionWatchdog instead.
        Assert.Equal(0, new NpgsqlConnectionStringBuilder(For("apply", "Host=a;Command Timeout=30")).CommandTimeout);
        var probe = new NpgsqlConnectionStringBuilder(ConnectionStrings.ForProbe("Host=a;Timeout=15;Command Timeout=120", "p", TimeSpan.FromSeconds(2.5)));
        Assert.Equal((3, 3, -1, false), (probe.Timeout, probe.CommandTimeout, probe.CancellationTimeout, probe.Pooling));
    }

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
