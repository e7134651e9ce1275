using Npgsql;

namespace PgMultiMaster.Sql;

/// <summary>Connection settings per role of a connection, on top of what the operator configured.</summary>
public static class ConnectionStrings
{
    // Values travel as text from one server to another: both sides must print and parse them the same way,
    // whatever the servers' own defaults (PostgreSQL's apply worker forces the same settings).
    private const string TextFormatOptions = "-c datestyle=ISO -c intervalstyle=postgres -c extra_float_digits=3 -c TimeZone=UTC";

    public static string ForReplication(string configured, string applicationName) =>
        Build(configured, applicationName, b =>
        {
            b.Pooling = false;
        });

    public static string ForApply(string configured, string applicationName) =>
        Build(configured, applicationName, b =>
        {
            b.Pooling = false;
            b.MaxAutoPrepare = 256;
            b.AutoPrepareMinUsages = 2;
            b.CommandTimeout = 0;
        });

    public static string ForAdmin(string configured, string applicationName) =>
        Build(configured, applicationName, b => b.Pooling = false);

    /// <summary>An open connection for catalog queries and setup (the caller disposes it).</summary>
    public static async Task<NpgsqlConnection> OpenAdminAsync(string configured, string applicationName, CancellationToken ct)
    {
        var conn = new NpgsqlConnection(ForAdmin(configured, applicationName));
        try
        {
            await conn.OpenAsync(ct).ConfigureAwait(false);
            return conn;
        }
        catch
        {
            await conn.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static string Build(string configured, string applicationName, Action<NpgsqlConnectionStringBuilder> tune)
    {
        var b = new NpgsqlConnectionStringBuilder(configured) { ApplicationName = applicationName };
        b.Options = string.IsNullOrWhiteSpace(b.Options) ? TextFormatOptions : b.Options + " " + TextFormatOptions;
        tune(b);
        return b.ConnectionString;
    }
}
