using PgMultiMaster.Decoding;
using PgMultiMaster.Replication;

namespace PgMultiMaster.Tests.Replication;

/// <summary>
/// The hand-over between the task that reads a link's stream and the apply loop, with a stream that behaves like
/// Npgsql's where it matters: a read that waits for the network, and a stream that must not be disposed under it.
/// </summary>
public sealed class StreamReceiverTests
{
    private static ValueTask<ReplicationEvent?> Decode(int i, CancellationToken _) =>
        new(new TransactionBegin((ulong)i, DateTime.UnixEpoch, 0));

    [Fact]
    public async Task Events_arrive_in_order_then_an_idle_mark_and_each_counts_as_unhandled_until_the_next_is_asked_for()
    {
        var stream = new NetworkLikeStream(300);
        var receiver = new StreamReceiver();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var run = receiver.RunAsync(stream, Decode, cts.Token);

        var seen = new List<ReplicationEvent>();
        while (seen.Count < 300)
        {
            if (receiver.TryRead(out var next)) seen.Add(next);
            else await receiver.WaitToReadAsync(cts.Token);
        }
        Assert.Equal(Enumerable.Range(0, 300).Select(i => (ulong)i), seen.Cast<TransactionBegin>().Select(b => b.FinalLsn));
        // The last event is not handled until the apply loop asks for the next: only then may its position be confirmed.
        Assert.Equal(1, receiver.Unhandled);
        ReplicationEvent? idle;
        while (!receiver.TryRead(out idle)) await receiver.WaitToReadAsync(cts.Token);
        Assert.IsType<StreamIdle>(idle);
        Assert.Equal(0, receiver.Unhandled);

        await cts.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Stopping_while_the_apply_side_is_behind_never_disposes_the_stream_under_a_pending_read()
    {
        // 16 full chunks fill the hand-over; 5 more events then wait for an idle mark that has no room.
        const int events = 16 * 256 + 5;
        var stream = new NetworkLikeStream(events);
        var receiver = new StreamReceiver();
        using var cts = new CancellationTokenSource();
        var run = receiver.RunAsync(stream, Decode, cts.Token);

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!(stream.ReadPending && receiver.Unhandled == events))
        {
            Assert.True(DateTime.UtcNow < deadline, $"the receiver did not reach the waiting read (unhandled {receiver.Unhandled})");
            await Task.Delay(10);
        }
        await cts.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.True(stream.Disposed);
        Assert.False(stream.DisposedUnderPendingRead, "the stream was disposed while a read was still running");
    }

    [Fact]
    public async Task Rows_are_received_ahead_only_within_the_byte_budget_and_one_larger_row_still_passes()
    {
        var relation = new RelationInfo(1, "public", "t", ReplicaIdentity.Default, [new ColumnInfo("v", 25, false)]);
        // Each event holds about 2 MB (a million characters); the budget takes two of them.
        var row = new RowChange(ChangeKind.Insert, relation, null, [Cell.Of(new string('x', 1_000_000))]);
        var stream = new NetworkLikeStream(10);
        var receiver = new StreamReceiver(maxBufferedBytes: 2 * row.MemorySize + 100);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var run = receiver.RunAsync(stream, (_, _) => new ValueTask<ReplicationEvent?>(row), cts.Token);

        // Nothing is read: the receiver stops at two rows (it would take all ten without the budget).
        await WaitForAsync(() => receiver.Unhandled == 2, cts.Token);
        await Task.Delay(200, cts.Token); // and stays there: a wait for something that must not happen
        Assert.Equal(2, receiver.Unhandled);

        // Handing one back makes room for the next: all ten arrive, in order, as the apply side reads.
        var seen = 0;
        while (seen < 10)
        {
            if (receiver.TryRead(out var next)) { if (next is RowChange) seen++; }
            else await receiver.WaitToReadAsync(cts.Token);
        }
        Assert.True(receiver.Unhandled <= 2);

        // A single row larger than the whole budget is not held back.
        var huge = new StreamReceiver(maxBufferedBytes: row.MemorySize / 2);
        var hugeRun = huge.RunAsync(new NetworkLikeStream(1), (_, _) => new ValueTask<ReplicationEvent?>(row), cts.Token);
        ReplicationEvent? first;
        while (!huge.TryRead(out first)) await huge.WaitToReadAsync(cts.Token);
        Assert.Same(row, first);

        await cts.CancelAsync();
        await Task.WhenAll(run, hugeRun).WaitAsync(TimeSpan.FromSeconds(10));
    }

    private static async Task WaitForAsync(Func<bool> condition, CancellationToken ct)
    {
        while (!condition()) await Task.Delay(10, ct);
    }

    /// <summary>
    /// Yields <c>count</c> messages at once, then a read that waits; cancelling ends that read a little later, as a
    /// socket read does. Disposing while it still runs is what crashes Npgsql's iterator; here it is recorded.
    /// </summary>
    private sealed class NetworkLikeStream(int count) : IAsyncEnumerable<int>, IAsyncEnumerator<int>
    {
        private int _current = -1;
        private volatile bool _pending;

        public bool ReadPending => _pending;
        public bool Disposed { get; private set; }
        public bool DisposedUnderPendingRead { get; private set; }
        private CancellationToken _ct;

        public IAsyncEnumerator<int> GetAsyncEnumerator(CancellationToken ct = default)
        {
            _ct = ct;
            return this;
        }

        public int Current => _current;

        public ValueTask<bool> MoveNextAsync()
        {
            if (_current + 1 < count)
            {
                _current++;
                return new ValueTask<bool>(true);
            }
            var read = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            _pending = true;
            _ct.Register(() => _ = Task.Delay(100).ContinueWith(_ =>
            {
                _pending = false;
                read.TrySetCanceled();
            }, TaskScheduler.Default));
            return new ValueTask<bool>(read.Task);
        }

        public ValueTask DisposeAsync()
        {
            Disposed = true;
            if (_pending) DisposedUnderPendingRead = true;
            return default;
        }
    }
}
