using Npgsql;

namespace PgMultiMaster.Cli.Commands.Demo;

/// <summary>
/// One client connection string that names every node, as an application of a multi-master cluster uses it
/// (docs/clients.md): <c>Host=h1:p1,h2:p2,...;Load Balance Hosts=true;Target Session Attributes=any</c>. Npgsql starts
/// each new connection at the next host in turn, tries the next one when a host does not answer, and skips a host it
/// found down for <c>Host Recheck Seconds</c>.
/// </summary>
internal static class MultiHostConnectionString
{
    /// <summary>
    /// Joins the nodes' connection strings. They must differ in host and port only: one connection string has one
    /// database, user and password for all its hosts.
    /// </summary>
    public static string Build(IReadOnlyList<string> nodeConnectionStrings, int hostRecheckSeconds)
    {
        if (nodeConnectionStrings.Count == 0) throw new ArgumentException("no node to connect to", nameof(nodeConnectionStrings));
        var nodes = nodeConnectionStrings.Select(c => new NpgsqlConnectionStringBuilder(c)).ToList();
        var rest = nodes.Select(Rest).ToList();
        if (rest.Distinct(StringComparer.Ordinal).Count() > 1)
            throw new ArgumentException("the nodes' connection strings differ in more than host and port; one connection string " +
                                        "has one database, user and password for all hosts", nameof(nodeConnectionStrings));

        var multi = new NpgsqlConnectionStringBuilder(nodeConnectionStrings[0])
        {
            Host = string.Join(',', nodes.SelectMany(n => HostsWithPort(n.Host, n.Port))),
            LoadBalanceHosts = true,
            // Every node of a multi-master cluster takes writes: any node that answers will do.
            TargetSessionAttributes = "any",
            HostRecheckSeconds = hostRecheckSeconds,
        };
        // Every host names its own port now.
        multi.Remove("Port");
        return multi.ConnectionString;
    }

    /// <summary>The connection string without its host and port, to compare the nodes by.</summary>
    private static string Rest(NpgsqlConnectionStringBuilder node)
    {
        var copy = new NpgsqlConnectionStringBuilder(node.ConnectionString);
        copy.Remove("Host");
        copy.Remove("Port");
        return copy.ConnectionString;
    }

    /// <summary><c>east</c> with port 5433 is <c>east:5433</c>; a host that names its port (<c>east:5432</c>, <c>[::1]:5432</c>) keeps it.</summary>
    internal static IEnumerable<string> HostsWithPort(string? hosts, int port) =>
        (hosts ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(h => WithPort(h, port));

    private static string WithPort(string host, int port)
    {
        var colon = host.LastIndexOf(':');
        var named = colon > 0 && colon < host.Length - 1 && host[(colon + 1)..].All(char.IsAsciiDigit);
        if (host.StartsWith('['))
            return named && host[colon - 1] == ']' ? host : $"{host}:{port}";
        // A bare IPv6 address (::1) has colons but no port: bracketed, so the port after it reads as one.
        if (host.Count(c => c == ':') > 1) return $"[{host}]:{port}";
        return named ? host : $"{host}:{port}";
    }
}
