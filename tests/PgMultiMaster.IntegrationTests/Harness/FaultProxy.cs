using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace PgMultiMaster.IntegrationTests.Harness;

/// <summary>What a connection through a <see cref="FaultProxy"/> is, read from its startup packet.</summary>
public enum ConnectionKind { Unknown, Normal, Replication, Cancel }

/// <summary>The faults a <see cref="FaultProxy"/> injects.</summary>
public enum NetworkFault { Cut, CloseMidStream, DropCommitReply, Latency, HalfOpen }

/// <summary>
/// A TCP proxy on a loopback port in front of one PostgreSQL server, between one worker and that server: the
/// worker's connection strings name the proxy (<see cref="Route"/>), the harness's own connections go direct.
/// Faults switch at run time, per connection kind (replication or normal, told apart by the startup packet's
/// <c>replication</c> parameter) and application name where it matters:
/// <list type="bullet">
/// <item><see cref="Cut"/>: every connection reset both ways; while refusing, new ones are reset on arrival.</item>
/// <item><see cref="CloseOne"/>: one connection closed (FIN both ways) mid-stream.</item>
/// <item><see cref="DropNextCommitReply"/>: the next COMMIT reaches the server, which commits, and its answer never
/// comes back: the connection is reset once the server has answered.</item>
/// <item><see cref="Latency"/>: added to every byte, both ways.</item>
/// <item><see cref="HalfOpen"/>: nothing forwarded either way and no socket closed (no FIN, no RST): only a timeout
/// can notice. <see cref="Heal"/> lets the bytes through again.</item>
/// </list>
/// </summary>
public sealed class FaultProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly string _serverHost;
    private readonly int _serverPort;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private readonly Lock _lock = new();
    private readonly List<ProxiedConnection> _open = [];
    private readonly List<(DateTime At, ConnectionKind Kind, string Application)> _started = [];
    private readonly Dictionary<NetworkFault, int> _injected = Enum.GetValues<NetworkFault>().ToDictionary(f => f, _ => 0);
    private bool _refusing;
    private bool _freezingNew;
    private string? _dropCommitReplyOf;

    /// <param name="server">A connection string naming the server (its host and port are used).</param>
    public FaultProxy(string name, string server)
    {
        Name = name;
        var b = new NpgsqlConnectionStringBuilder(server);
        (_serverHost, _serverPort) = (b.Host!, b.Port);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _accepting = AcceptAsync();
    }

    public string Name { get; }

    public int Port { get; }

    /// <summary>Extra delay on every byte, each way; the round trip takes twice as long more.</summary>
    public TimeSpan Latency { get; private set; }

    /// <summary>The same connection string, through this proxy.</summary>
    public string Route(string connectionString) =>
        new NpgsqlConnectionStringBuilder(connectionString) { Host = "127.0.0.1", Port = Port }.ConnectionString;

    public IReadOnlyDictionary<NetworkFault, int> Injected
    {
        get { lock (_lock) return new Dictionary<NetworkFault, int>(_injected); }
    }

    /// <summary>Connections of <paramref name="kind"/> whose application name starts with <paramref name="application"/>, started since <paramref name="since"/> (UTC).</summary>
    public int StartedSince(DateTime since, ConnectionKind kind, string application = "")
    {
        lock (_lock) return _started.Count(s => s.At >= since && s.Kind == kind && s.Application.StartsWith(application, StringComparison.Ordinal));
    }

    /// <summary>Open connections of <paramref name="kind"/> whose application name starts with <paramref name="application"/>.</summary>
    public int OpenCount(ConnectionKind kind, string application = "")
    {
        lock (_lock) return _open.Count(c => Matches(c, kind, application));
    }

    /// <summary>Open connections of <paramref name="kind"/> held half-open.</summary>
    public int FrozenCount(ConnectionKind kind, string application = "")
    {
        lock (_lock) return _open.Count(c => c.Frozen && Matches(c, kind, application));
    }

    /// <summary>Resets every connection both ways; with <paramref name="refuse"/>, new ones too until <see cref="Heal"/>.</summary>
    public void Cut(bool refuse)
    {
        List<ProxiedConnection> open;
        lock (_lock)
        {
            _refusing = refuse;
            open = [.. _open];
            _injected[NetworkFault.Cut]++;
        }
        foreach (var c in open) c.Close(reset: true);
    }

    /// <summary>Closes one connection of <paramref name="kind"/> (FIN both ways); false if none is open.</summary>
    public bool CloseOne(ConnectionKind kind, Random random, string application = "")
    {
        ProxiedConnection? victim;
        lock (_lock)
        {
            var candidates = _open.Where(c => Matches(c, kind, application)).ToList();
            if (candidates.Count == 0) return false;
            victim = candidates[random.Next(candidates.Count)];
            _injected[NetworkFault.CloseMidStream]++;
        }
        victim.Close(reset: false);
        return true;
    }

    /// <summary>
    /// The next COMMIT sent on a normal connection whose application name starts with <paramref name="application"/>
    /// reaches the server; nothing the server sends after it reaches the client, and the connection is reset once the
    /// server has answered that batch. Counted when it happens.
    /// </summary>
    public void DropNextCommitReply(string application = "")
    {
        lock (_lock) _dropCommitReplyOf = application;
    }

    /// <summary>Whether a drop is armed (it disarms when it happens).</summary>
    public bool CommitReplyDropArmed
    {
        get { lock (_lock) return _dropCommitReplyOf is not null; }
    }

    public void SetLatency(TimeSpan latency)
    {
        lock (_lock)
        {
            Latency = latency;
            if (latency > TimeSpan.Zero) _injected[NetworkFault.Latency]++;
        }
    }

    /// <summary>
    /// Freezes the open connections of <paramref name="kind"/> (null: all): nothing passes either way, nothing closes.
    /// With <paramref name="newConnectionsToo"/> every new connection freezes on arrival (a full partition). Returns
    /// how many were frozen.
    /// </summary>
    public int HalfOpen(ConnectionKind? kind, string application = "", bool newConnectionsToo = false)
    {
        List<ProxiedConnection> frozen;
        lock (_lock)
        {
            frozen = _open.Where(c => (kind is null || c.Kind == kind) && c.ApplicationName.StartsWith(application, StringComparison.Ordinal)).ToList();
            _freezingNew |= newConnectionsToo;
            if (frozen.Count > 0 || newConnectionsToo) _injected[NetworkFault.HalfOpen]++;
        }
        foreach (var c in frozen) c.Freeze();
        return frozen.Count;
    }

    /// <summary>Ends every fault: no latency, connections accepted, frozen ones forward again, no COMMIT reply dropped.</summary>
    public void Heal()
    {
        List<ProxiedConnection> open;
        lock (_lock)
        {
            _refusing = _freezingNew = false;
            _dropCommitReplyOf = null;
            Latency = TimeSpan.Zero;
            open = [.. _open];
        }
        foreach (var c in open) c.Thaw();
    }

    internal void Started(ProxiedConnection connection)
    {
        lock (_lock) _started.Add((DateTime.UtcNow, connection.Kind, connection.ApplicationName));
    }

    internal bool TakeCommitReplyDrop(ProxiedConnection connection)
    {
        lock (_lock)
        {
            if (_dropCommitReplyOf is not { } application || connection.Kind != ConnectionKind.Normal
                || !connection.ApplicationName.StartsWith(application, StringComparison.Ordinal)) return false;
            _dropCommitReplyOf = null;
            _injected[NetworkFault.DropCommitReply]++;
            return true;
        }
    }

    private static bool Matches(ProxiedConnection c, ConnectionKind kind, string application) =>
        c.Kind == kind && c.ApplicationName.StartsWith(application, StringComparison.Ordinal);

    private async Task AcceptAsync()
    {
        while (true)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }
            client.NoDelay = true;
            bool refuse, freeze;
            lock (_lock) (refuse, freeze) = (_refusing, _freezingNew);
            if (refuse)
            {
                client.LingerState = new LingerOption(true, 0);
                client.Dispose();
                continue;
            }
            _ = Task.Run(() => ForwardAsync(client, freeze));
        }
    }

    private async Task ForwardAsync(Socket client, bool frozen)
    {
        var server = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await server.ConnectAsync(_serverHost, _serverPort, _stop.Token);
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            client.LingerState = new LingerOption(true, 0);
            client.Dispose();
            server.Dispose();
            return;
        }
        var connection = new ProxiedConnection(this, client, server, frozen);
        lock (_lock) _open.Add(connection);
        try
        {
            await connection.RunAsync();
        }
        finally
        {
            lock (_lock) _open.Remove(connection);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting;
        List<ProxiedConnection> open;
        lock (_lock) open = [.. _open];
        foreach (var c in open) c.Close(reset: true);
        _stop.Dispose();
    }
}
