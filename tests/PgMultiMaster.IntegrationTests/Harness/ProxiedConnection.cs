using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using System.Threading.Channels;

namespace PgMultiMaster.IntegrationTests.Harness;

/// <summary>
/// One client connection through a <see cref="FaultProxy"/> and its connection to the server: two pumps (client to
/// server, server to client), each a reader and a writer with a short queue between them, so latency delays bytes
/// without slowing the stream. Reads the protocol as it passes to tell what the connection is and to see COMMITs.
/// </summary>
internal sealed partial class ProxiedConnection
{
    private const int SslRequest = 80877103, GssEncRequest = 80877104, CancelRequest = 80877102;

    private readonly FaultProxy _proxy;
    private readonly Socket _client;
    private readonly Socket _server;
    private readonly CancellationTokenSource _closed = new();
    private readonly PgMessageFramer _fromClient;
    private readonly PgMessageFramer _fromServer;

    private volatile bool _frozen;
    private TaskCompletionSource _thawed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    // Prepared statements by name: whether each is a COMMIT (Npgsql prepares the statements it runs often, and then
    // sends only their names).
    private readonly Dictionary<string, bool> _statements = [];
    private bool _commitInBatch;
    private long _readiesExpected;
    private long _readiesSeen;
    private long _closeAtReady = long.MaxValue;
    private volatile bool _dropReplies;

    public ProxiedConnection(FaultProxy proxy, Socket client, Socket server, bool frozen)
    {
        _proxy = proxy;
        _client = client;
        _server = server;
        _frozen = frozen;
        _fromClient = new PgMessageFramer(OnClientMessage) { Untyped = true };
        _fromServer = new PgMessageFramer(OnServerMessage);
    }

    public ConnectionKind Kind { get; private set; }

    /// <summary>The <c>application_name</c> of the startup packet (pgmm names each session: <c>pgmm apply east-&gt;west</c>).</summary>
    public string ApplicationName { get; private set; } = "";

    public bool Frozen => _frozen;

    public async Task RunAsync()
    {
        await Task.WhenAll(PumpAsync(_client, _server, _fromClient, upstream: true), PumpAsync(_server, _client, _fromServer, upstream: false));
        Close(reset: false);
    }

    /// <summary>Stops forwarding in both directions, closing nothing: only a timeout can notice.</summary>
    public void Freeze()
    {
        if (_frozen) return;
        _thawed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _frozen = true;
    }

    /// <summary>Forwards again what waited; a peer that gave the connection up meanwhile ends it now.</summary>
    public void Thaw()
    {
        _frozen = false;
        _thawed.TrySetResult();
    }

    /// <summary>Closes both sides: with an RST (<paramref name="reset"/>) or a FIN.</summary>
    public void Close(bool reset)
    {
        _closed.Cancel();
        foreach (var socket in new[] { _client, _server })
        {
            try
            {
                if (reset) socket.LingerState = new LingerOption(true, 0);
                else socket.Shutdown(SocketShutdown.Both);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException) { /* already gone */ }
            socket.Dispose();
        }
    }

    private async Task PumpAsync(Socket from, Socket to, PgMessageFramer framer, bool upstream)
    {
        // Bounded: a side that stops reading holds the other back, as a real network would.
        var queue = Channel.CreateBounded<(byte[] Data, long Due)>(64);
        var writing = WriteAsync(queue.Reader, to, upstream);
        try
        {
            var buffer = new byte[64 * 1024];
            while (true)
            {
                await WhileFrozenAsync();
                var n = await from.ReceiveAsync(buffer, SocketFlags.None, _closed.Token);
                if (n == 0) break;
                var data = buffer[..n];
                framer.Feed(data);
                await queue.Writer.WriteAsync((data, Environment.TickCount64 + (long)_proxy.Latency.TotalMilliseconds), _closed.Token);
                if (!upstream && Interlocked.Read(ref _readiesSeen) >= Interlocked.Read(ref _closeAtReady))
                {
                    // The server has answered the batch that carried the COMMIT: the commit happened (or failed)
                    // there, and the client never hears of it.
                    Close(reset: true);
                    break;
                }
            }
            queue.Writer.TryComplete();
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException or ChannelClosedException)
        {
            queue.Writer.TryComplete();
            Close(reset: true);
        }
        await writing;
    }

    private async Task WriteAsync(ChannelReader<(byte[] Data, long Due)> queue, Socket to, bool upstream)
    {
        try
        {
            await foreach (var (data, due) in queue.ReadAllAsync(_closed.Token))
            {
                var wait = due - Environment.TickCount64;
                if (wait > 0) await Task.Delay(TimeSpan.FromMilliseconds(wait), _closed.Token);
                await WhileFrozenAsync();
                if (!upstream && _dropReplies) continue;
                for (var sent = 0; sent < data.Length;)
                    sent += await to.SendAsync(data.AsMemory(sent), SocketFlags.None, _closed.Token);
            }
            // The other side closed its half: pass the FIN on (not while frozen: nothing passes then).
            await WhileFrozenAsync();
            to.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
        {
            Close(reset: true);
        }
    }

    private async Task WhileFrozenAsync()
    {
        while (_frozen) await _thawed.Task.WaitAsync(_closed.Token);
    }

    private void OnClientMessage(char type, ReadOnlySpan<byte> body)
    {
        switch (type)
        {
            case '\0':
                var code = body.Length >= 4 ? BinaryPrimitives.ReadInt32BigEndian(body) : 0;
                if (code is SslRequest or GssEncRequest)
                {
                    _fromServer.ExpectSingleByte();
                    return;
                }
                if (code == CancelRequest)
                {
                    Kind = ConnectionKind.Cancel;
                    _proxy.Started(this);
                    return;
                }
                // StartupMessage: the protocol version, then name and value pairs.
                var pairs = PgMessageFramer.Strings(body[4..], 64);
                var parameters = new Dictionary<string, string>();
                for (var i = 0; i + 1 < pairs.Count; i += 2) parameters[pairs[i]] = pairs[i + 1];
                Kind = parameters.TryGetValue("replication", out var replication) && replication is not ("false" or "off" or "no" or "0")
                    ? ConnectionKind.Replication : ConnectionKind.Normal;
                ApplicationName = parameters.GetValueOrDefault("application_name", "");
                _fromClient.Untyped = false;
                _readiesExpected = 1; // after authentication
                _proxy.Started(this);
                return;
            case 'P': // Parse: statement name, text
                var parse = PgMessageFramer.Strings(body, 2);
                if (parse.Count == 2) _statements[parse[0]] = IsCommit(parse[1]);
                return;
            case 'B': // Bind: portal name, statement name
                var bind = PgMessageFramer.Strings(body, 2);
                if (bind.Count == 2 && _statements.GetValueOrDefault(bind[1])) _commitInBatch = true;
                return;
            case 'Q':
                _readiesExpected++;
                if (CommitIn().IsMatch(PgMessageFramer.Strings(body, 1).FirstOrDefault() ?? "")) CommitSent();
                return;
            case 'S': // Sync: the end of a batch, answered by one ReadyForQuery
                _readiesExpected++;
                if (_commitInBatch) CommitSent();
                _commitInBatch = false;
                return;
        }
    }

    private void CommitSent()
    {
        if (!_proxy.TakeCommitReplyDrop(this)) return;
        _dropReplies = true;
        Interlocked.Exchange(ref _closeAtReady, _readiesExpected);
    }

    private void OnServerMessage(char type, ReadOnlySpan<byte> body)
    {
        if (type is 'S' or 'G' && body.IsEmpty)
        {
            // The server accepted TLS or GSS encryption: the rest cannot be read.
            _fromServer.Opaque = _fromClient.Opaque = true;
            return;
        }
        if (type == 'Z') Interlocked.Increment(ref _readiesSeen);
    }

    private static bool IsCommit(string sql) => sql.Trim().TrimEnd(';').Equals("COMMIT", StringComparison.OrdinalIgnoreCase);

    [GeneratedRegex(@"\bCOMMIT\b", RegexOptions.IgnoreCase)]
    private static partial Regex CommitIn();
}
