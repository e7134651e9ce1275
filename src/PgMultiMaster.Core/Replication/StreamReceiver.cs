using System.Diagnostics.CodeAnalysis;
using System.Threading.Channels;
using PgMultiMaster.Decoding;

namespace PgMultiMaster.Replication;

/// <summary>
/// Reads and decodes a link's replication stream on its own task, ahead of the apply loop, so the stream moves while
/// the target works. Events are handed over in chunks: a chunk ends when the stream has nothing more for now, or at
/// <see cref="ChunkSize"/> events, so a live load wakes the apply loop once per burst, not once per event.
/// Single reader: the apply loop. What waits is bounded in bytes too (<paramref name="maxBufferedBytes"/>): huge rows
/// are received no faster than the target takes them.
/// </summary>
internal sealed class StreamReceiver(long maxBufferedBytes = long.MaxValue)
{
    private const int ChunkSize = 256;

    // Bytes of the events received and not yet handled, and the apply side's signal that it handed some back.
    private long _bufferedBytes;
    private long _heldBytes;
    private readonly SemaphoreSlim _room = new(0, 1);

    // At most 16 chunks of 256 events wait: memory stays flat however large a transaction is.
    private readonly Channel<Chunk> _chunks = Channel.CreateBounded<Chunk>(
        new BoundedChannelOptions(16) { SingleReader = true, SingleWriter = true });

    private sealed record Chunk(List<ReplicationEvent> Events, bool ThenIdle);

    private Chunk? _current;
    private int _next;
    private bool _holding;
    private int _unhandled;

    /// <summary>
    /// Events received and not yet handled by the apply loop. The event it took last counts until it asks for the next:
    /// only then has the event's effect (say, a commit's place in the feedback queue) been recorded.
    /// </summary>
    public int Unhandled => Volatile.Read(ref _unhandled);

    /// <summary>
    /// Receives until the stream ends or fails; the apply loop then sees the end, or the error.
    /// <paramref name="decode"/> turns a message into an event (null: nothing to apply).
    /// </summary>
    public async Task RunAsync<TMessage>(IAsyncEnumerable<TMessage> stream, Func<TMessage, CancellationToken, ValueTask<ReplicationEvent?>> decode,
        CancellationToken ct)
    {
        await Task.Yield(); // the caller goes on to the apply loop at once
        try
        {
            await using var messages = stream.GetAsyncEnumerator(ct);
            var chunk = new List<ReplicationEvent>();
            var idleTold = false;
            while (true)
            {
                var next = messages.MoveNextAsync();
                if (!next.IsCompleted && !(idleTold && chunk.Count == 0))
                {
                    // Everything received is handed on: the apply side sends what it holds instead of waiting for more.
                    try
                    {
                        await _chunks.Writer.WriteAsync(new Chunk(chunk, ThenIdle: true), ct).ConfigureAwait(false);
                    }
                    catch
                    {
                        // Never walk away from a pending read: disposing the enumerator under it completes Npgsql's
                        // iterator twice, an unhandled exception that ends the process. The read ends with ct.
                        try { await next.ConfigureAwait(false); }
                        catch { /* the read we gave up; the write's error is the one to report */ }
                        throw;
                    }
                    chunk = [];
                    idleTold = true;
                }
                if (!await next.ConfigureAwait(false)) break;
                if (await decode(messages.Current, ct).ConfigureAwait(false) is not { } decoded) continue;
                // Over the byte budget: hand on what is here and wait for the apply side to work through it. One event
                // always passes, however large.
                var size = decoded.MemorySize;
                while (Volatile.Read(ref _bufferedBytes) > 0 && Volatile.Read(ref _bufferedBytes) + size > maxBufferedBytes)
                {
                    if (chunk.Count > 0)
                    {
                        await _chunks.Writer.WriteAsync(new Chunk(chunk, ThenIdle: false), ct).ConfigureAwait(false);
                        chunk = [];
                    }
                    await _room.WaitAsync(ct).ConfigureAwait(false);
                }
                Interlocked.Add(ref _bufferedBytes, size);
                Interlocked.Increment(ref _unhandled);
                chunk.Add(decoded);
                idleTold = false;
                if (chunk.Count < ChunkSize) continue;
                await _chunks.Writer.WriteAsync(new Chunk(chunk, ThenIdle: false), ct).ConfigureAwait(false);
                chunk = [];
            }
            if (chunk.Count > 0) await _chunks.Writer.WriteAsync(new Chunk(chunk, ThenIdle: false), ct).ConfigureAwait(false);
            _chunks.Writer.TryComplete();
        }
        catch (Exception e)
        {
            _chunks.Writer.TryComplete(e);
        }
    }

    /// <summary>The next event, or <see cref="StreamIdle"/> where the stream had nothing more; false if none is here yet.</summary>
    public bool TryRead([NotNullWhen(true)] out ReplicationEvent? next)
    {
        if (_holding)
        {
            Interlocked.Decrement(ref _unhandled);
            _holding = false;
            if (_heldBytes > 0)
            {
                Interlocked.Add(ref _bufferedBytes, -_heldBytes);
                _heldBytes = 0;
                // One signal is enough: the receiver checks the budget again when it wakes.
                if (_room.CurrentCount == 0) _room.Release();
            }
        }
        while (true)
        {
            if (_current is { } chunk)
            {
                if (_next < chunk.Events.Count)
                {
                    next = chunk.Events[_next++];
                    _holding = true;
                    _heldBytes = next.MemorySize;
                    return true;
                }
                _current = null;
                if (chunk.ThenIdle)
                {
                    next = StreamIdle.Instance;
                    return true;
                }
            }
            if (!_chunks.Reader.TryRead(out _current))
            {
                next = null;
                return false;
            }
            _next = 0;
        }
    }

    /// <summary>Waits until <see cref="TryRead"/> has something: false once the stream has ended; throws the receiver's error.</summary>
    public ValueTask<bool> WaitToReadAsync(CancellationToken ct) => _chunks.Reader.WaitToReadAsync(ct);

}

/// <summary>In the received events: the stream has nothing more for now (the receiver waits for the network).</summary>
internal sealed record StreamIdle : ReplicationEvent
{
    public static readonly StreamIdle Instance = new();
}
