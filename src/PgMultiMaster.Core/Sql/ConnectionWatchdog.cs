using System.Data;
using System.Net.Sockets;
using Npgsql;

namespace PgMultiMaster.Sql;

/// <summary>
/// Notices a connection whose server has gone silent without closing it: a network partition, a firewall or NAT that
/// dropped the flow, a paused server. No FIN or RST arrives, so the client would wait for an answer for ever.
/// <para>
/// A command timeout cannot tell this from a statement that rightly runs long (a row lock held by the application, a
/// large batch, a resolver function), and would cancel such a statement at every retry. Instead, once the connection
/// has waited for an answer for the timeout, a fresh connection asks the server what the session is doing
/// (<c>pg_stat_activity</c>): still running the statement, wait on; waiting for the client, gone, or the server
/// unreachable, the answer is lost, and <see cref="Lost"/> is cancelled. Commands given that token then end: Npgsql
/// breaks the connection when the server does not confirm the cancellation within the connection's Cancellation
/// Timeout (2 s by default). See docs/adr/0014.
/// </para>
/// </summary>
internal sealed class ConnectionWatchdog : IAsyncDisposable
{
    private readonly NpgsqlConnection _conn;
    private readonly string _probe;
    private readonly string _what;
    private readonly TimeSpan _timeout;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _lost = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _watching;

    /// <param name="conn">The connection to watch (opened by its owner, before or after this starts).</param>
    /// <param name="probeConnectionString">How to reach the same server afresh (<see cref="ConnectionStrings.ForProbe"/>).</param>
    /// <param name="what">The connection in words, for the reason given: "the apply connection to node 'west'".</param>
    public ConnectionWatchdog(NpgsqlConnection conn, string probeConnectionString, string what, TimeSpan timeout, TimeProvider time)
    {
        _conn = conn;
        _probe = probeConnectionString;
        _what = what;
        _timeout = timeout;
        _time = time;
        _watching = WatchAsync();
    }

    /// <summary>Cancelled when the connection is given up.</summary>
    public CancellationToken Lost => _lost.Token;

    /// <summary>Why the connection was given up (null while it is not).</summary>
    public string? Reason { get; private set; }

    /// <summary>The error to report for an operation that <see cref="Lost"/> ended (a reconnect follows).</summary>
    public TimeoutException GaveUp(Exception cancelled) => new($"{_what} was given up: {Reason}", cancelled);

    /// <summary>What the server said of the session: null fields where it could not be reached or has no such session.</summary>
    public sealed record Probe(string? Unreachable, bool Found, string? State, string? WaitEvent, TimeSpan SinceStateChange);

    /// <summary>
    /// Whether the answer the client has waited <paramref name="timeout"/> for is lost, and why; null to wait on.
    /// A server that answers with an error is alive and says nothing about the session: wait on.
    /// </summary>
    public static string? Judge(Probe probe, TimeSpan timeout)
    {
        var waited = $"no answer for {Seconds(timeout)}";
        if (probe.Unreachable is { } error) return $"{waited}, and a fresh connection to the server failed too ({error})";
        if (!probe.Found) return $"{waited}, and the server has no such session any more";
        var settled = probe.SinceStateChange >= timeout / 2;
        // Blocked sending an answer that does not arrive: a client that waits reads whatever comes.
        if (probe is { State: "active", WaitEvent: "ClientWrite" } && settled)
            return $"{waited}, and the server has been stuck sending it for {Seconds(probe.SinceStateChange)}";
        if (probe.State?.StartsWith("idle", StringComparison.Ordinal) == true && settled)
            return $"{waited}, and the server has been waiting for this worker for {Seconds(probe.SinceStateChange)} (state '{probe.State}')";
        return null;
    }

    private static string Seconds(TimeSpan t) => $"{t.TotalSeconds.ToString("0.#", System.Globalization.CultureInfo.InvariantCulture)} s";

    private async Task WatchAsync()
    {
        await Task.Yield();
        try
        {
            using var timer = new PeriodicTimer(_timeout / 4, _time);
            long? waitingSince = null;
            while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false))
            {
                // Sampled: many short commands in a row look like one long wait, which costs a probe, nothing more.
                if ((_conn.FullState & (ConnectionState.Executing | ConnectionState.Fetching)) == 0)
                {
                    waitingSince = null;
                    continue;
                }
                waitingSince ??= _time.GetTimestamp();
                if (_time.GetElapsedTime(waitingSince.Value) < _timeout) continue;
                int pid;
                try { pid = _conn.ProcessID; }
                catch (InvalidOperationException) { continue; } // closed or broken meanwhile
                if (Judge(await ProbeAsync(pid).ConfigureAwait(false), _timeout) is { } reason)
                {
                    Reason = reason;
                    await _lost.CancelAsync().ConfigureAwait(false);
                    return;
                }
                waitingSince = _time.GetTimestamp();
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            // disposed
        }
    }

    private async Task<Probe> ProbeAsync(int pid)
    {
        using var deadline = new CancellationTokenSource(_timeout, _time);
        using var both = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token, _stop.Token);
        try
        {
            await using var conn = new NpgsqlConnection(_probe);
            await conn.OpenAsync(both.Token).ConfigureAwait(false);
            await using var cmd = new NpgsqlCommand(
                "SELECT state, wait_event, pg_catalog.clock_timestamp() - state_change FROM pg_catalog.pg_stat_activity WHERE pid = $1", conn);
            cmd.Parameters.Add(new NpgsqlParameter { Value = pid });
            await using var r = await cmd.ExecuteReaderAsync(both.Token).ConfigureAwait(false);
            if (!await r.ReadAsync(both.Token).ConfigureAwait(false)) return new Probe(null, Found: false, null, null, TimeSpan.Zero);
            return new Probe(null, Found: true, r.IsDBNull(0) ? null : r.GetString(0), r.IsDBNull(1) ? null : r.GetString(1),
                r.IsDBNull(2) ? TimeSpan.Zero : r.GetTimeSpan(2));
        }
        catch (PostgresException)
        {
            // The server answers: it is there, and the session's fate unknown (no right to see it, no connection slot).
            return new Probe(null, Found: true, null, null, TimeSpan.Zero);
        }
        catch (Exception e) when (!_stop.IsCancellationRequested
                                  && e is NpgsqlException or OperationCanceledException or TimeoutException or SocketException or IOException)
        {
            return new Probe(e.Message, Found: false, null, null, TimeSpan.Zero);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _watching.ConfigureAwait(false);
        _stop.Dispose();
        _lost.Dispose();
    }
}
