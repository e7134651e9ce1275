using Npgsql;

namespace PgMultiMaster.Sql;

/// <summary>Connection settings per role of a connection, on top of what the operator configured.</summary>
public static class ConnectionStrings
{
    // Values travel as text from one server to another: both sides must print and parse them the same way,
    // whatever the servers' own defaults (PostgreSQL's apply worker forces the same settings).
    private const string TextFormatOptions = "-c datestyle=ISO -c intervalstyle=postgres -c extra_float_digits=3 -c TimeZone=UTC";

    // Nothing that another role creates in a schema such as public may run with pgmm's rights: every session looks
    // up names in pg_catalog only (PostgreSQL's own apply worker uses an empty search_path), and pgmm's SQL
    // qualifies the rest. Given at connection start, it also overrides ALTER ROLE/DATABASE ... SET search_path.
    private const string SafeSearchPath = "-c search_path=pg_catalog,pg_temp";

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
            // No command timeout: an applied statement may rightly run long (a lock held by the application, a large
            // batch, a resolver function), and a timeout would cancel it and every retry of it. A server that went
            // silent is noticed by ConnectionWatchdog, which asks the server whether the statement still runs.
            b.CommandTimeout = 0;
        });

    /// <summary>
    /// A short-lived connection that asks a server about one of pgmm's sessions (<see cref="ConnectionWatchdog"/>):
    /// connecting and the query each give up after <paramref name="timeout"/>, and a cancelled query is not waited for.
    /// </summary>
    public static string ForProbe(string configured, string applicationName, TimeSpan timeout) =>
        Build(configured, applicationName, b =>
        {
            b.Pooling = false;
            b.Timeout = b.CommandTimeout = Math.Max(1, (int)Math.Ceiling(timeout.TotalSeconds));
            b.CancellationTimeout = -1;
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
        b.Options = (string.IsNullOrWhiteSpace(b.Options) ? "" : b.Options + " ") + TextFormatOptions + " " + SafeSearchPath;
        tune(b);
        return b.ConnectionString;
    }
}
