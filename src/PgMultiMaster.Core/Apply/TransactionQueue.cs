namespace PgMultiMaster.Apply;

/// <summary>
/// Whole transactions waiting to be sent together (<see cref="QueueSender"/>), and how many go in one pipeline.
/// Decides only; sends nothing.
/// </summary>
internal sealed class TransactionQueue(int batchSize, long flushBytes, TimeProvider time)
{
    public const int MaxTransactions = 200;

    // A steady stream never leaves the source idle: bound how long a queued transaction may wait for company.
    public static readonly TimeSpan MaxDelay = TimeSpan.FromMilliseconds(2);

    private readonly List<QueuedTransaction> _queue = [];
    private int _statements;
    private long _bytes;
    private long _started;

    /// <summary>
    /// Transactions sent in one pipeline. A conflict rolls back the ones after it, which are sent again: under a
    /// stream of conflicts a long pipeline repeats most of its work, so the length halves after each conflict and
    /// doubles after each clean send.
    /// </summary>
    public int SendLimit { get; private set; } = MaxTransactions;

    public int Count => _queue.Count;

    public QueuedTransaction this[int index] => _queue[index];

    /// <summary>
    /// Queues <paramref name="q"/>; true when the queue should be sent now: it holds <see cref="MaxTransactions"/>
    /// transactions, a batch's worth of statements, <c>flushBytes</c> of row data, or its first has waited
    /// <see cref="MaxDelay"/>.
    /// </summary>
    public bool Add(QueuedTransaction q)
    {
        if (_queue.Count == 0) _started = time.GetTimestamp();
        _queue.Add(q);
        _statements += q.Items.Count;
        _bytes += q.Bytes;
        return _queue.Count >= MaxTransactions || _statements >= batchSize || _bytes >= flushBytes
               || time.GetElapsedTime(_started) > MaxDelay;
    }

    /// <summary>How many of the queued transactions the next pipeline sends.</summary>
    public int NextSend => Math.Min(_queue.Count, SendLimit);

    /// <summary>The first <paramref name="count"/> transactions committed in a clean send.</summary>
    public void SentCleanly(int count)
    {
        _queue.RemoveRange(0, count);
        SendLimit = Math.Min(MaxTransactions, SendLimit * 2);
    }

    /// <summary>
    /// The transaction at <paramref name="index"/> met a conflict or an error, those before it committed: all of them
    /// leave the queue, and the culprit is returned to go on alone.
    /// </summary>
    public QueuedTransaction Failed(int index)
    {
        SendLimit = Math.Max(1, SendLimit / 2);
        var culprit = _queue[index];
        _queue.RemoveRange(0, index + 1);
        return culprit;
    }

    public void Clear()
    {
        _queue.Clear();
        (_statements, _bytes) = (0, 0);
    }
}
