using Microsoft.Extensions.Time.Testing;
using PgMultiMaster.Apply;
using PgMultiMaster.Decoding;

namespace PgMultiMaster.Tests.Apply;

public sealed class TransactionQueueTests
{
    private static readonly RelationInfo Accounts = new(1, "public", "accounts", ReplicaIdentity.Default, [new ColumnInfo("id", 23, true)]);

    private readonly FakeTimeProvider _time = new();

    private static QueuedTransaction Transaction(ulong lsn, int changes = 1, long bytes = 10) => new(
        new TransactionBegin(lsn, new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc), 1),
        new TransactionCommit(lsn, lsn + 1, new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc)),
        [.. Enumerable.Range(0, changes).Select(_ => new PendingChange(new RowChange(ChangeKind.Insert, Accounts, null, [Cell.Of("1")])))],
        bytes, _ => { });

    private TransactionQueue Queue(int batchSize = 1000, long flushBytes = 1_000_000) => new(batchSize, flushBytes, _time);

    [Fact]
    public void A_transaction_waits_for_company_until_the_queue_is_full_or_has_waited_long_enough()
    {
        var queue = Queue();
        Assert.False(queue.Add(Transaction(1)));
        _time.Advance(TransactionQueue.MaxDelay);
        Assert.False(queue.Add(Transaction(2))); // not yet longer than the bound
        _time.Advance(TimeSpan.FromTicks(1));
        Assert.True(queue.Add(Transaction(3)));
        Assert.Equal(3, queue.Count);
    }

    [Fact]
    public void The_wait_is_counted_from_the_first_transaction_queued()
    {
        var queue = Queue();
        queue.Add(Transaction(1));
        _time.Advance(TimeSpan.FromMilliseconds(10));
        queue.Clear();
        Assert.False(queue.Add(Transaction(2)));
    }

    [Fact]
    public void A_batch_of_statements_or_the_byte_budget_sends_the_queue()
    {
        var byStatements = Queue(batchSize: 5);
        Assert.False(byStatements.Add(Transaction(1, changes: 4)));
        Assert.True(byStatements.Add(Transaction(2, changes: 1)));

        var byBytes = Queue(flushBytes: 100);
        Assert.False(byBytes.Add(Transaction(1, bytes: 60)));
        Assert.True(byBytes.Add(Transaction(2, bytes: 40)));
    }

    [Fact]
    public void At_most_MaxTransactions_wait()
    {
        var queue = Queue();
        for (var i = 1; i < TransactionQueue.MaxTransactions; i++) Assert.False(queue.Add(Transaction((ulong)i)));
        Assert.True(queue.Add(Transaction(TransactionQueue.MaxTransactions)));
    }

    [Fact]
    public void The_send_limit_halves_after_each_conflict_down_to_one_and_doubles_after_each_clean_send_up_to_the_maximum()
    {
        var queue = Queue();
        for (var i = 0; i < 20; i++) queue.Add(Transaction((ulong)i));
        Assert.Equal(TransactionQueue.MaxTransactions, queue.SendLimit);
        Assert.Equal(20, queue.NextSend);

        var culprit = queue.Failed(3); // three committed before it
        Assert.Equal(3UL, culprit.Begin.FinalLsn);
        Assert.Equal(16, queue.Count);
        Assert.Equal(100, queue.SendLimit);
        for (var i = 0; i < 10; i++) queue.Failed(0);
        Assert.Equal(1, queue.SendLimit);
        Assert.Equal(1, queue.NextSend);

        queue.SentCleanly(1);
        Assert.Equal(2, queue.SendLimit);
        Assert.Equal(2, queue.NextSend);
        for (var i = 0; i < 10; i++) queue.SentCleanly(0);
        Assert.Equal(TransactionQueue.MaxTransactions, queue.SendLimit);
        Assert.Equal(queue.Count, queue.NextSend);
    }
}
