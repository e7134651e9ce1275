using System.Security.Authentication;

namespace PgMultiMaster.Sql;

/// <summary>Why a connection to a node failed, in words an operator can act on.</summary>
public static class ConnectionErrors
{
    /// <summary>
    /// The server's TLS certificate did not verify against the connection string's Root Certificate (or the system's
    /// CAs), or does not name the host: retrying cannot help until the configuration or the certificate changes.
    /// </summary>
    public static bool IsCertificateRejected(Exception e) => Chain(e).Any(x => x is AuthenticationException);

    public static string Describe(Exception e) => IsCertificateRejected(e)
        ? $"the server's TLS certificate could not be verified ({Chain(e).Last().Message}); check Root Certificate, SSL Mode and Host in its connection string"
        : e.Message;

    private static IEnumerable<Exception> Chain(Exception e)
    {
        for (Exception? x = e; x is not null; x = x.InnerException) yield return x;
    }
}
