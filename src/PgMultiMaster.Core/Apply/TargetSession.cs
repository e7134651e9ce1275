#pragma warning disable RS0030 // TODO(apply-split): clock reads go through the link's TimeProvider once Apply/ is split (issue 14)
using Microsoft.Extensions.Logging;
using Npgsql;
using NpgsqlTypes;
using PgMultiMaster.Configuration;
using PgMultiMaster.Conflicts;
using PgMultiMaster.Decoding;
using PgMultiMaster.Diagnostics;
using PgMultiMaster.Monitoring;
using PgMultiMaster.Replication;
using PgMultiMaster.Sql;
using PgMultiMaster.Topology;

namespace PgMultiMaster.Apply;

/// <summary>
/// The apply side of one link: a session on the target that replays each source transaction as one target
/// transaction and commits the replication origin's progress with the data (<c>pg_replication_origin_xact_setup</c>),
/// so a restart resumes exactly after the last applied transaction.
/// <para>
/// Changes go out in pipelined batches of guarded statements (<see cref="ChangeStatements"/>). The first statement
/// that meets a conflict halts the rest of its batch; that change is resolved on the slow path
/// (<see cref="ConflictHandler"/>) and the statements after it are sent again, so order is kept. A transaction
/// that fits in one batch costs one round trip: BEGIN, its changes, a halt check and COMMIT together.
/// </para>
/// </summary>
internal sealed class TargetSession : IAsyncDisposable
{
    private readonly NpgsqlConnection _conn;
    private readonly ConnectionWatchdog _watchdog;
    private readonly Link _link;
    private readonly PgMultiMasterOptions _options;
    private readonly Dictionary<uint, TargetTable> _tables = [];
    private readonly Dictionary<uint, (RelationInfo Relation, string Reason)> _mismatched = [];
    private readonly List<object> _pending = []; // RowChange or ParkRequest, not yet sent
    private readonly ApplyContext _ctx;
    private bool _begun;
    private TransactionBegin? _currentBegin;

    // Whole transactions waiting to be sent together, each still its own target transaction.
    private readonly List<Queued> _queue = [];
    private int _queuedStatements;

    // Row data held in _pending and in the queue: sent once it reaches half the link's byte budget (the other half is
    // for what the receiver holds ahead).
    private long _pendingBytes, _queuedBytes;
    private long FlushBytes => _options.Apply.MaxBufferedBytes / 2;

    private sealed record Queued(TransactionBegin Begin, TransactionCommit Commit, List<object> Items, Action<ulong> OnCommitted);

    private const int MaxQueuedTransactions = 200;

    // Transactions sent in one pipeline. A conflict rolls back the ones after it, which are sent again: under a
    // stream of conflicts a long pipeline repeats most of its work, so the length halves after each conflict and
    // doubles after each clean send.
    private int _sendLimit = MaxQueuedTransactions;

    // A steady stream never leaves the source idle: bound how long a queued transaction may wait for company.
    private static readonly TimeSpan MaxQueueDelay = TimeSpan.FromMilliseconds(2);
    private long _queueStarted;

    /// <summary>End LSN of the last source transaction committed here (the origin's progress).</summary>
    public ulong Progress { get; private set; }

    /// <summary>Target server clock minus this process's clock, sampled when the session opened.</summary>
    public TimeSpan ClockOffset { get; private set; }

    /// <summary>How the transaction being received is applied (set by the link at its BEGIN).</summary>
    public ApplyMode Mode { get; set; }

    /// <summary>Why every change of the transaction is parked, in <see cref="ApplyMode.ParkAll"/>.</summary>
    public string ParkReason { get; set; } = "";

    /// <summary>Changes of the transaction (by position) the careful replay parks unsent, and why (<see cref="ReplayPlan"/>).</summary>
    public IReadOnlyDictionary<int, string> Poisoned { get; set; } = new Dictionary<int, string>();

    // Position of the next change in the careful replay of the transaction being received.
    private int _carefulOrdinal;

    // Totals kept across reconnects, and what the open target transaction has sent so far (counted if it commits).
    private readonly LinkStatus _status;
    private LinkCounters Counters => _status.Counters;
    private readonly RowTally _tally = new();

    private readonly IReadOnlyList<Setup.TablePattern> _noTruncate;

    private TargetSession(NpgsqlConnection conn, ConnectionWatchdog watchdog, Link link, PgMultiMasterOptions options, ApplyContext ctx, LinkStatus status)
    {
        _noTruncate = [.. options.NoTruncateTables.Select(t => new Setup.TablePattern(t))];
        _conn = conn;
        _watchdog = watchdog;
        _link = link;
        _options = options;
        _ctx = ctx;
        _status = status;
    }

    /// <summary>Cancelled when the target stopped answering and this session is given up (<see cref="ConnectionWatchdog"/>).</summary>
    public CancellationToken Lost => _watchdog.Lost;

    /// <summary>The error to report for an operation that <see cref="Lost"/> ended.</summary>
    public TimeoutException GaveUp(Exception cancelled) => _watchdog.GaveUp(cancelled);

    /// <summary>The server process of this session.</summary>
    public int ProcessId => _conn.ProcessID;

    public static string ApplicationName(Link link) => $"pgmm apply {link}";

    public static async Task<TargetSession> OpenAsync(Link link, PgMultiMasterOptions options, LinkStatus status, ILogger logger, TimeProvider time,
        CancellationToken linkCt)
    {
        var conn = new NpgsqlConnection(ConnectionStrings.ForApply(link.Target.ConnectionString, ApplicationName(link)));
        var timeout = options.Apply.DeadConnectionTimeout;
        var watchdog = new ConnectionWatchdog(conn, ConnectionStrings.ForProbe(link.Target.ConnectionString, $"pgmm probe {link}", timeout),
            $"the apply connection to node '{link.Target.Name}'", timeout, time);
        using var opening = CancellationTokenSource.CreateLinkedTokenSource(linkCt, watchdog.Lost);
        var ct = opening.Token;
        try
        {
            await conn.OpenAsync(ct).ConfigureAwait(false);
            if (options.Apply.ReplicaRole)
            {
                try
                {
                    await ExecAsync(conn, "SET session_replication_role = replica", ct).ConfigureAwait(false);
                }
                catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InsufficientPrivilege)
                {
                    Log.ReplicaRoleDenied(logger, link.ToString(), link.Target.Name);
                }
            }
            // Commits need not wait for the disk: the source slot is confirmed only past what the target has flushed
            // (FeedbackGate), so a target crash loses nothing the source still has to send.
            if (!options.Apply.SynchronousCommit)
                await ExecAsync(conn, "SET synchronous_commit = off", ct).ConfigureAwait(false);
            // Statements set pgmm.halt only with SET LOCAL semantics: every transaction starts from this value.
            await ExecAsync(conn, "SET pgmm.halt = 'off'", ct).ConfigureAwait(false);
            // An origin is held by one session at a time: a previous worker's session still open makes this fail
            // (55006), and the link retries until the server has ended it.
            await using (var setup = new NpgsqlCommand("SELECT pg_catalog.pg_replication_origin_session_setup($1)", conn))
            {
                setup.Parameters.Add(new NpgsqlParameter { Value = link.OriginName });
                await setup.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            var nodes = new Dictionary<uint, string> { [0] = link.Target.Name };
            var prefix = options.Cluster + "_";
            await using (var origins = new NpgsqlCommand("SELECT roident, roname FROM pg_replication_origin", conn))
            await using (var r = await origins.ExecuteReaderAsync(ct).ConfigureAwait(false))
                while (await r.ReadAsync(ct).ConfigureAwait(false))
                {
                    var name = r.GetString(1);
                    nodes[r.GetFieldValue<uint>(0)] = name.StartsWith(prefix, StringComparison.Ordinal) ? name[prefix.Length..] : name;
                }
            var ctx = new ApplyContext
            {
                SourceNode = link.Source.Name, OriginName = link.OriginName,
                SourceRoident = nodes.First(n => n.Value == link.Source.Name && n.Key != 0).Key, NodeByRoident = nodes,
            };

            var session = new TargetSession(conn, watchdog, link, options, ctx, status);
            await using (var progress = new NpgsqlCommand("SELECT pg_catalog.pg_replication_origin_session_progress(true), pg_catalog.clock_timestamp()", conn))
            {
                var sent = DateTime.UtcNow;
                await using var r = await progress.ExecuteReaderAsync(ct).ConfigureAwait(false);
                await r.ReadAsync(ct).ConfigureAwait(false);
                session.Progress = r.IsDBNull(0) ? 0 : (ulong)r.GetFieldValue<NpgsqlLogSequenceNumber>(0);
                // Skew that matters is between the source's clock (commit timestamps) and the target's.
                session.ClockOffset = r.GetDateTime(1) - (sent + (DateTime.UtcNow - sent) / 2);
            }
            return session;
        }
        catch (Exception e)
        {
            await watchdog.DisposeAsync().ConfigureAwait(false);
            await conn.DisposeAsync().ConfigureAwait(false);
            if (e is OperationCanceledException && watchdog.Reason is not null && !linkCt.IsCancellationRequested) throw watchdog.GaveUp(e);
            throw;
        }
    }

    public void Begin(TransactionBegin begin)
    {
        _currentBegin = begin;
        _carefulOrdinal = 0;
        _ctx.CommitTimestamp = begin.CommitTimestamp;
        _ctx.CommitLsn = begin.FinalLsn;
    }

    /// <summary>The transaction being received is wholly in memory and can be sent later with others.</summary>
    public bool CanQueue => !_begun && Mode < ApplyMode.Careful && _pending.Count > 0 && _currentBegin is not null;

    public bool HasQueue => _queue.Count > 0;

    /// <summary>
    /// Keeps the received transaction to send with the ones after it: one round trip for many transactions.
    /// <paramref name="onCommitted"/> learns where the target committed it.
    /// </summary>
    public async Task QueueAsync(TransactionCommit commit, Action<ulong> onCommitted, CancellationToken ct)
    {
        if (_queue.Count == 0) _queueStarted = System.Diagnostics.Stopwatch.GetTimestamp();
        _queue.Add(new Queued(_currentBegin!, commit, [.. _pending], onCommitted));
        _queuedStatements += _pending.Count;
        _queuedBytes += _pendingBytes;
        _pending.Clear();
        _pendingBytes = 0;
        if (_queue.Count >= MaxQueuedTransactions || _queuedStatements >= _options.Apply.BatchSize || _queuedBytes >= FlushBytes
            || System.Diagnostics.Stopwatch.GetElapsedTime(_queueStarted) > MaxQueueDelay)
            await FlushQueueAsync(ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Sends the queued transactions in one pipeline. A conflict or error in one of them rolls back only that one:
    /// those before it are committed, it goes through the conflict path alone, and the rest are sent again.
    /// </summary>
    public async Task FlushQueueAsync(CancellationToken ct)
    {
        if (_queue.Count == 0) return;
        // The transaction being received keeps its own state while the queued ones are sent.
        var (pending, pendingBytes) = (_pending.ToList(), _pendingBytes);
        var (ts, lsn, begin) = (_ctx.CommitTimestamp, _ctx.CommitLsn, _currentBegin);
        _pending.Clear();
        try
        {
            while (_queue.Count > 0)
            {
                var sending = Math.Min(_queue.Count, _sendLimit);
                await using var batch = new NpgsqlBatch(_conn);
                foreach (var q in _queue.Take(sending)) AddTransaction(batch, q);
                AddPositions(batch);
                try
                {
                    await ExecuteCommitAsync(batch, ct).ConfigureAwait(false);
                    foreach (var q in _queue.Take(sending)) Done(q);
                    _queue.RemoveRange(0, sending);
                    _sendLimit = Math.Min(MaxQueuedTransactions, _sendLimit * 2);
                }
                catch (PostgresException e) when (e.SqlState == "PM001" || IsDataError(e))
                {
                    // Npgsql drops the connection on some errors (XX: internal, also raised by functions): which of the
                    // transactions failed cannot be asked then; all of them are sent again change by change.
                    if (_conn.FullState != System.Data.ConnectionState.Open)
                        throw new ApplyDataException(_queue[0].Begin.FinalLsn, _queue[sending - 1].Begin.FinalLsn, e);
                    await ExecAsync(_conn, "ROLLBACK", ct).ConfigureAwait(false);
                    // Which of them committed: exactly those the origin's progress has passed.
                    ulong progress;
                    await using (var position = new NpgsqlCommand("SELECT pg_catalog.pg_replication_origin_session_progress(false), pg_catalog.pg_current_wal_insert_lsn()", _conn))
                    await using (var r = await position.ExecuteReaderAsync(ct).ConfigureAwait(false))
                    {
                        await r.ReadAsync(ct).ConfigureAwait(false);
                        progress = r.IsDBNull(0) ? 0 : (ulong)r.GetFieldValue<NpgsqlLogSequenceNumber>(0);
                        LastCommitLsn = (ulong)r.GetFieldValue<NpgsqlLogSequenceNumber>(1);
                    }
                    var failed = _queue.FindIndex(0, sending, q => q.Commit.EndLsn > progress);
                    if (failed < 0)
                    {
                        // All of them committed: nothing queued to blame; reconnect and resume after them.
                        foreach (var q in _queue.Take(sending)) Done(q);
                        throw;
                    }
                    _sendLimit = Math.Max(1, _sendLimit / 2);
                    foreach (var q in _queue.Take(failed)) Done(q);
                    var culprit = _queue[failed];
                    _queue.RemoveRange(0, failed + 1);
                    if (!ChangeStatements.IsConflictSignal(e))
                        throw new ApplyDataException(culprit.Begin.FinalLsn, culprit.Begin.FinalLsn, e);
                    // The conflict path, alone: halts, slow-path resolution and the commit.
                    Begin(culprit.Begin);
                    _pending.AddRange(culprit.Items);
                    try
                    {
                        await FlushAsync(ct).ConfigureAwait(false);
                        await using var commit = new NpgsqlBatch(_conn);
                        AddCommit(commit, culprit.Commit);
                        await ExecuteCommitAsync(commit, ct).ConfigureAwait(false);
                    }
                    catch (PostgresException inner) when (IsDataError(inner))
                    {
                        throw new ApplyDataException(culprit.Begin.FinalLsn, culprit.Begin.FinalLsn, inner);
                    }
                    _begun = false;
                    _tally.ClearRows(); // its rows are counted from its items
                    Done(culprit);
                }
            }
        }
        finally
        {
            _queue.Clear();
            (_queuedStatements, _queuedBytes) = (0, 0);
            _pending.Clear();
            _pending.AddRange(pending);
            _pendingBytes = pendingBytes;
            (_ctx.CommitTimestamp, _ctx.CommitLsn, _currentBegin) = (ts, lsn, begin);
        }
    }

    /// <summary>
    /// A queued transaction: BEGIN, its statements, the origin's progress and COMMIT. A single-row transaction's change
    /// carries the progress itself (<see cref="ChangeStatements.CommitCheck"/>): three statements, not four.
    /// </summary>
    private void AddTransaction(NpgsqlBatch batch, Queued q)
    {
        Begin(q.Begin);
        batch.BatchCommands.Add(new NpgsqlBatchCommand("BEGIN"));
        var end = new ChangeStatements.CommitCheck(q.Commit.EndLsn, q.Commit.CommitTimestamp);
        var segments = Segments(q.Items);
        foreach (var segment in segments.SkipLast(1)) batch.BatchCommands.Add(Command(segment, q.Items, whole: true));
        var last = segments[^1];
        if (last.Count == 1 && q.Items[last.Start] is RowChange change)
            batch.BatchCommands.Add(ChangeStatements.Guarded(_tables[change.Relation.Id], change, _ctx, end));
        else
        {
            batch.BatchCommands.Add(Command(last, q.Items, whole: true));
            batch.BatchCommands.Add(ChangeStatements.Commit(end));
        }
        batch.BatchCommands.Add(new NpgsqlBatchCommand("COMMIT"));
    }

    private void Done(Queued q)
    {
        Counters.AddRows(q.Items);
        Counters.AddRows(_tally); // conflicts resolved for it on the slow path (its rows are counted from its items)
        Applied(q.Commit);
        q.OnCommitted(LastCommitLsn);
    }

    private void Applied(TransactionCommit commit)
    {
        Progress = commit.EndLsn;
        var now = DateTimeOffset.UtcNow;
        _status.LastApplied = new LastApply(now.UtcDateTime - commit.CommitTimestamp, now);
        _status.TransactionApplied();
    }

    /// <summary>A relation was (re)described by the source: learn how to find its rows here.</summary>
    public async Task DescribeAsync(RelationInfo relation, CancellationToken ct)
    {
        await FlushQueueAsync(ct).ConfigureAwait(false);
        await FlushAsync(ct).ConfigureAwait(false);
        _tables.Remove(relation.Id);
        _mismatched.Remove(relation.Id);
        try
        {
            _tables[relation.Id] = await TargetTable.LoadAsync(_conn, relation, _link.Target.Name,
                new TableRules(_options.Conflicts, relation.QualifiedName), ct).ConfigureAwait(false);
        }
        catch (SchemaMismatchException e)
        {
            // Its changes are parked until the schema is fixed; the stream goes on.
            _mismatched[relation.Id] = (relation, e.Message);
        }
    }

    public async Task ApplyAsync(RowChange change, CancellationToken ct)
    {
        // Under REPLICA IDENTITY FULL the old row is complete: an unchanged TOAST value is the old value.
        if (change is { Kind: ChangeKind.Update, Old: not null, New: not null } && change.Relation.Identity == ReplicaIdentity.Full
            && change.New.Any(c => c.IsUnchanged))
            change = change with { New = change.New.Select((c, i) => c.IsUnchanged ? change.Old[i] : c).ToArray() };

        if (Mode == ApplyMode.ParkAll)
            // A person decides: the transaction as a whole was refused, its parts may not stand alone.
            _pending.Add(new ParkRequest(change, null, ParkReason, Retryable: false));
        else if (_mismatched.TryGetValue(change.Relation.Id, out var mismatch))
            _pending.Add(new ParkRequest(change, ConflictType.SchemaMismatch, mismatch.Reason, Retryable: true));
        else if (IsKeyChange(change))
        {
            // A new key is a different row: the old one is deleted and the new one inserted, each under the
            // rules for deletes and inserts, so a key change converges like any delete and insert.
            _pending.Add(change with { Kind = ChangeKind.Delete, New = null });
            _pending.Add(change with { Kind = ChangeKind.Insert, Old = null });
        }
        else _pending.Add(change);
        _pendingBytes += change.MemorySize;
        if (_pending.Count >= _options.Apply.BatchSize || _pendingBytes >= FlushBytes)
        {
            await FlushQueueAsync(ct).ConfigureAwait(false);
            await FlushAsync(ct, Mode == ApplyMode.Optimistic).ConfigureAwait(false);
        }
    }

    private bool IsKeyChange(RowChange c)
    {
        if (c.Kind != ChangeKind.Update || c.Old is null || !_tables.TryGetValue(c.Relation.Id, out var t) || t.MatchAllColumns) return false;
        // Without the whole new row the insert cannot be built: such a change stays an update.
        return t.MatchColumns.Any(i => c.Old[i] != c.New![i]) && !c.New!.Any(x => x.IsUnchanged);
    }

    /// <summary>
    /// Truncates exactly the replicated tables of the message, as PostgreSQL's own apply does: never CASCADE into tables
    /// this node does not replicate. One the target refuses (a table of its own refers to one of them, one is missing)
    /// is parked for a person, and the stream goes on. Tables under <c>NoTruncateTables</c> are left alone.
    /// </summary>
    public async Task TruncateAsync(TableTruncate truncate, CancellationToken ct)
    {
        await FlushQueueAsync(ct).ConfigureAwait(false);
        await FlushAsync(ct).ConfigureAwait(false);
        var tables = truncate.Relations.Where(r => !_noTruncate.Any(p => p.Matches(r.Schema, r.Name))).ToList();
        if (tables.Count == 0) return;
        await using var batch = new NpgsqlBatch(_conn);
        AddBegin(batch);
        _begun = true;
        if (Mode == ApplyMode.ParkAll)
        {
            batch.BatchCommands.Add(DeadLetters.ParkTruncate(tables, truncate.RestartIdentity, ParkReason, _ctx));
            await batch.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            _tally.Parked++;
            return;
        }
        batch.BatchCommands.Add(new NpgsqlBatchCommand("SAVEPOINT pgmm_truncate"));
        batch.BatchCommands.Add(new NpgsqlBatchCommand(
            "TRUNCATE " + string.Join(", ", tables.Select(r => Quote.Table(r.Schema, r.Name))) + (truncate.RestartIdentity ? " RESTART IDENTITY" : "")));
        batch.BatchCommands.Add(new NpgsqlBatchCommand("RELEASE SAVEPOINT pgmm_truncate"));
        try
        {
            await batch.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
        catch (PostgresException e) when (IsDataError(e) && _conn.FullState == System.Data.ConnectionState.Open)
        {
            await using var park = new NpgsqlBatch(_conn);
            park.BatchCommands.Add(new NpgsqlBatchCommand("ROLLBACK TO SAVEPOINT pgmm_truncate"));
            park.BatchCommands.Add(DeadLetters.ParkTruncate(tables, truncate.RestartIdentity, $"{e.SqlState}: {e.MessageText}", _ctx));
            await park.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            _tally.Parked++;
        }
    }

    /// <summary>Commits the target transaction together with the origin's progress; nothing to do if it applied no change.</summary>
    public async Task<bool> CommitAsync(TransactionCommit commit, CancellationToken ct)
    {
        await FlushQueueAsync(ct).ConfigureAwait(false);
        if (!_begun && _pending.Count == 0) return false;
        if (!_begun && Mode < ApplyMode.Careful)
        {
            // Common case: the whole transaction in one round trip. A conflict makes the halt check roll it back;
            // then it is sent again with the conflict resolved on the way.
            try
            {
                await using var batch = new NpgsqlBatch(_conn);
                AddBegin(batch);
                foreach (var segment in Segments(_pending)) batch.BatchCommands.Add(Command(segment, _pending, whole: true));
                AddCommit(batch, commit);
                await ExecuteCommitAsync(batch, ct).ConfigureAwait(false);
                Counters.AddRows(_pending);
                Committed(commit);
                return true;
            }
            catch (PostgresException e) when (ChangeStatements.IsConflictSignal(e))
            {
                await ExecAsync(_conn, "ROLLBACK", ct).ConfigureAwait(false);
            }
        }
        // The rest of a large transaction, or (not begun) the whole of one that met a conflict, now guarded.
        await FlushAsync(ct, optimistic: _begun && Mode == ApplyMode.Optimistic).ConfigureAwait(false);
        await using (var batch = new NpgsqlBatch(_conn))
        {
            AddCommit(batch, commit);
            await ExecuteCommitAsync(batch, ct).ConfigureAwait(false);
        }
        Committed(commit);
        return true;
    }

    private void Committed(TransactionCommit commit)
    {
        Counters.AddRows(_tally);
        _pending.Clear();
        _pendingBytes = 0;
        _begun = false;
        Mode = ApplyMode.Optimistic;
        Applied(commit);
    }

    /// <summary>Abandons an open transaction (after a failure, or when the stream broke mid-transaction).</summary>
    public async Task RollbackAsync()
    {
        _pending.Clear();
        _pendingBytes = 0;
        _tally.Clear();
        if (!_begun) return;
        _begun = false;
        if (_conn.FullState != System.Data.ConnectionState.Open) return;
        // Not the link's token (it may be stopping), but not for ever either: a silent server is given up.
        try { await ExecAsync(_conn, "ROLLBACK", _watchdog.Lost).ConfigureAwait(false); }
        catch (Exception e) when (e is NpgsqlException or OperationCanceledException) { /* the connection is gone and took the transaction with it */ }
    }

    public async ValueTask DisposeAsync()
    {
        await RollbackAsync().ConfigureAwait(false);
        await _watchdog.DisposeAsync().ConfigureAwait(false);
        await _conn.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// Sends what is pending inside the open transaction, resolving conflicts in order. With
    /// <paramref name="optimistic"/>, a batch of insert runs only goes out in the optimistic form; a conflict then
    /// fails the whole target transaction (<see cref="OptimisticBatchException"/>), which is sent again guarded.
    /// </summary>
    private async Task FlushAsync(CancellationToken ct, bool optimistic = false)
    {
        var items = _pending.ToList();
        _pending.Clear();
        _pendingBytes = 0;
        if (Mode == ApplyMode.Careful)
        {
            foreach (var item in items) await ApplyCarefullyAsync(item, ct).ConfigureAwait(false);
            return;
        }
        if (optimistic && items.Count > 0 && Segments(items) is var segments && segments.All(s => s.Count > 1))
        {
            await using var batch = new NpgsqlBatch(_conn);
            AddBegin(batch);
            foreach (var segment in segments) batch.BatchCommands.Add(Command(segment, items, whole: true));
            try
            {
                await batch.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }
            catch (PostgresException e) when (ChangeStatements.IsConflictSignal(e))
            {
                throw new OptimisticBatchException(_ctx.CommitLsn, e);
            }
            _begun = true;
            _tally.Add(items, items.Count);
            return;
        }
        while (items.Count > 0)
        {
            var (conflicts, resumeAt) = await SendGuardedAsync(items, ct).ConfigureAwait(false);
            _tally.Add(items, resumeAt);
            foreach (var conflict in conflicts) await ResolveAsync(conflict, ct).ConfigureAwait(false);
            if (resumeAt >= items.Count) return;
            items = items.Skip(resumeAt).ToList();
        }
    }

    /// <summary>
    /// Consecutive inserts into one keyed table form a run, sent as one set-based statement; everything else goes
    /// one statement per item.
    /// </summary>
    private List<(int Start, int Count)> Segments(List<object> items)
    {
        var segments = new List<(int, int)>();
        for (var i = 0; i < items.Count;)
        {
            var n = 1;
            if (items[i] is RowChange { Kind: ChangeKind.Insert } first && _tables[first.Relation.Id] is { MatchAllColumns: false })
                while (i + n < items.Count && items[i + n] is RowChange { Kind: ChangeKind.Insert } next && next.Relation.Id == first.Relation.Id)
                    n++;
            segments.Add((i, n));
            i += n;
        }
        return segments;
    }

    /// <param name="whole">The statement is part of a whole transaction sent at once, which is sent again guarded
    /// if it fails (<see cref="ChangeStatements.IsConflictSignal"/>): an insert run can take the optimistic form.</param>
    private NpgsqlBatchCommand Command((int Start, int Count) segment, List<object> items, bool whole = false)
    {
        if (segment.Count == 1) return Guarded(items[segment.Start]);
        var run = items.GetRange(segment.Start, segment.Count).Cast<RowChange>().ToList();
        var table = _tables[run[0].Relation.Id];
        return whole ? ChangeStatements.OptimisticInsertRun(table, run) : ChangeStatements.InsertRun(table, run);
    }

    /// <summary>
    /// Sends the items as guarded statements. Returns the items that met a conflict (to resolve in order) and where
    /// to resume: everything after the first conflicting statement was skipped.
    /// </summary>
    private async Task<(List<object> Conflicts, int ResumeAt)> SendGuardedAsync(List<object> items, CancellationToken ct)
    {
        var segments = Segments(items);
        await using var batch = new NpgsqlBatch(_conn);
        AddBegin(batch);
        foreach (var segment in segments) batch.BatchCommands.Add(Command(segment, items));
        await using var reader = await batch.ExecuteReaderAsync(ct).ConfigureAwait(false);
        _begun = true;
        // Only the guarded statements return rows, one each, in order.
        for (var s = 0; s < segments.Count; s++)
        {
            var (start, count) = segments[s];
            if (s > 0) await reader.NextResultAsync(ct).ConfigureAwait(false);
            await reader.ReadAsync(ct).ConfigureAwait(false);
            if (count == 1)
            {
                if (!reader.GetBoolean(0)) return ([items[start]], start + 1);
                continue;
            }
            var failed = reader.GetFieldValue<long[]>(0);
            if (failed.Length > 0) return ([.. failed.Select(ord => items[start + (int)ord - 1])], start + count);
        }
        return ([], items.Count);
    }

    private async Task ResolveAsync(object item, CancellationToken ct)
    {
        var change = (RowChange)item; // a parked item never halts first: it only fails when already halted
        var (type, resolution) = await ConflictHandler.HandleAsync(_conn, _tables[change.Relation.Id], change, _ctx, ct).ConfigureAwait(false);
        // Counted once the transaction commits (a rolled-back resolution is resolved again when resent).
        _tally.AddConflict(change, type.Name(), resolution);
    }

    /// <summary>After an error, each change in its own savepoint: what still fails is parked with the error.</summary>
    private async Task ApplyCarefullyAsync(object item, CancellationToken ct)
    {
        var ordinal = _carefulOrdinal++;
        if (item is RowChange poisoned && Poisoned.TryGetValue(ordinal, out var why))
        {
            await using var park = new NpgsqlBatch(_conn);
            AddBegin(park);
            park.BatchCommands.Add(DeadLetters.Park(new ParkRequest(poisoned, null, why, Retryable: false), _ctx, guarded: false));
            _begun = true;
            await park.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            _tally.Parked++;
            return;
        }
        await using (var begin = new NpgsqlBatch(_conn))
        {
            AddBegin(begin);
            begin.BatchCommands.Add(new NpgsqlBatchCommand("SAVEPOINT pgmm_change"));
            await begin.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            _begun = true;
        }
        try
        {
            var (conflicts, _) = await SendGuardedAsync([item], ct).ConfigureAwait(false);
            foreach (var conflict in conflicts) await ResolveAsync(conflict, ct).ConfigureAwait(false);
            await ExecAsync(_conn, "RELEASE SAVEPOINT pgmm_change", ct).ConfigureAwait(false);
            _tally.Add([item], 1);
        }
        // On a connection Npgsql dropped (XX errors) nothing can be rolled back to: the link sends the transaction again,
        // and this change is parked unsent then.
        catch (PostgresException e) when (IsDataError(e) && item is RowChange && _conn.FullState != System.Data.ConnectionState.Open)
        {
            throw new PoisonedChangeException(ordinal, e);
        }
        catch (PostgresException e) when (IsDataError(e) && item is RowChange change)
        {
            await ExecAsync(_conn, "ROLLBACK TO SAVEPOINT pgmm_change; SET LOCAL pgmm.halt = 'off'", ct).ConfigureAwait(false);
            var type = e.SqlState.StartsWith("42", StringComparison.Ordinal) ? ConflictType.SchemaMismatch
                : e.SqlState == PostgresErrorCodes.UniqueViolation ? ConflictType.UniqueViolation : (ConflictType?)null;
            await using var park = new NpgsqlBatch(_conn);
            park.BatchCommands.Add(DeadLetters.Park(new ParkRequest(change, type, $"{e.SqlState}: {e.MessageText}", Retryable: true), _ctx, guarded: false));
            await park.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            _tally.Parked++;
        }
    }

    /// <summary>
    /// Retries this link's parked changes that may now succeed (or that a person asked to retry), each in its own
    /// transaction that carries the change's original commit timestamp and origin. Runs between transactions.
    /// </summary>
    public async Task<int> RetryParkedAsync(TimeSpan interval, CancellationToken ct)
    {
        await FlushQueueAsync(ct).ConfigureAwait(false);
        // A table fixed by hand since: its next changes apply instead of being parked.
        foreach (var (id, (relation, _)) in _mismatched.ToList())
        {
            try
            {
                _tables[id] = await TargetTable.LoadAsync(_conn, relation, _link.Target.Name,
                    new TableRules(_options.Conflicts, relation.QualifiedName), ct).ConfigureAwait(false);
                _mismatched.Remove(id);
            }
            catch (SchemaMismatchException) { /* still missing */ }
        }

        // A row change, or the statement of a parked TRUNCATE (only ever retried when a person asks).
        var parked = new List<(long Id, RowChange? Change, string? Truncate, DateTime CommitTs, ulong Lsn, bool Force)>();
        var unreadable = new List<(long Id, string Why)>();
        await using (var cmd = new NpgsqlCommand(
            """
            SELECT id, schema_name, relation_name, operation, columns::text, replica_identity, old_row::text, new_row::text,
                   remote_commit_ts, remote_lsn, force
            FROM pgmm.dead_letter
            WHERE origin_name = $1 AND (force OR (retryable AND (last_attempt_at IS NULL
                  OR last_attempt_at < pg_catalog.clock_timestamp() - $2::interval * least(attempts, 12))))
            ORDER BY id LIMIT 100
            """, _conn))
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = _link.OriginName });
            cmd.Parameters.Add(new NpgsqlParameter { Value = interval });
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false))
            {
                try
                {
                    var truncate = r.GetString(3) == "truncate";
                    parked.Add((r.GetInt64(0),
                        truncate ? null : DeadLetters.Restore(r.GetString(1), r.GetString(2), r.GetString(3), r.GetString(4), r.GetString(5),
                            r.IsDBNull(6) ? null : r.GetString(6), r.IsDBNull(7) ? null : r.GetString(7)),
                        truncate ? DeadLetters.RestoreTruncate(r.GetString(7)) : null,
                        r.GetDateTime(8), (ulong)r.GetFieldValue<NpgsqlLogSequenceNumber>(9), r.GetBoolean(10)));
                }
                // A row edited by hand, or written by another version, whatever is wrong with it: it is set aside with
                // the reason, never retried again, and the link goes on.
                catch (Exception e) when (e is not OperationCanceledException and not NpgsqlException)
                {
                    unreadable.Add((r.GetInt64(0), $"cannot be read back, not retried: {e.GetType().Name}: {e.Message}"));
                }
            }
        }
        foreach (var (id, why) in unreadable)
        {
            await using var note = new NpgsqlCommand(
                "UPDATE pgmm.dead_letter SET retryable = false, force = false, attempts = attempts + 1, " +
                "last_attempt_at = pg_catalog.clock_timestamp(), last_error = $2 WHERE id = $1", _conn);
            note.Parameters.Add(new NpgsqlParameter { Value = id });
            note.Parameters.Add(new NpgsqlParameter { Value = why });
            await note.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }

        var applied = 0;
        foreach (var (id, change, truncate, commitTs, lsn, force) in parked)
        {
            _ctx.CommitTimestamp = commitTs;
            _ctx.CommitLsn = lsn;
            // Counted before it runs: an attempt that takes the connection down with it (Npgsql drops it on XX errors)
            // still counts, so its backoff grows instead of the link trying it again at every pass.
            await using (var attempt = new NpgsqlCommand(
                "UPDATE pgmm.dead_letter SET attempts = attempts + 1, last_attempt_at = pg_catalog.clock_timestamp() WHERE id = $1", _conn))
            {
                attempt.Parameters.Add(new NpgsqlParameter { Value = id });
                await attempt.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }
            try
            {
                if (truncate is not null)
                {
                    await using var batch = new NpgsqlBatch(_conn);
                    AddBegin(batch);
                    batch.BatchCommands.Add(new NpgsqlBatchCommand(truncate));
                    _begun = true;
                    await batch.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }
                else await RetryChangeAsync(change!, force, ct).ConfigureAwait(false);
                await using (var finish = new NpgsqlBatch(_conn))
                {
                    var delete = new NpgsqlBatchCommand("DELETE FROM pgmm.dead_letter WHERE id = $1");
                    delete.Parameters.Add(new NpgsqlParameter { Value = id });
                    finish.BatchCommands.Add(delete);
                    AddCommit(finish, new TransactionCommit(lsn, Progress, commitTs));
                    await ExecuteCommitAsync(finish, ct).ConfigureAwait(false);
                }
                Counters.AddRows(_tally); // the conflict, if it met one, now that it committed
                _begun = false;
                applied++;
            }
            catch (Exception e) when (e is PostgresException p && IsDataError(p) || e is SchemaMismatchException or StillParkedException)
            {
                await RollbackAsync().ConfigureAwait(false);
                await using var note = new NpgsqlCommand(
                    "UPDATE pgmm.dead_letter SET last_error = $2, force = false WHERE id = $1", _conn);
                note.Parameters.Add(new NpgsqlParameter { Value = id });
                note.Parameters.Add(new NpgsqlParameter { Value = e.Message });
                await note.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }
        }
        return applied;
    }

    /// <summary>One parked change, guarded and resolved by the rules (one a person asked for by <see cref="TableRules.Forced"/>).</summary>
    private async Task RetryChangeAsync(RowChange change, bool force, CancellationToken ct)
    {
        var table = await TargetTable.LoadAsync(_conn, change.Relation, _link.Target.Name,
            force ? TableRules.Forced(_options.Conflicts, change.Relation.QualifiedName) : new TableRules(_options.Conflicts, change.Relation.QualifiedName), ct).ConfigureAwait(false);
        var retried = change with { Relation = table.Relation };
        await using var batch = new NpgsqlBatch(_conn);
        AddBegin(batch);
        batch.BatchCommands.Add(ChangeStatements.Guarded(table, retried, _ctx));
        // Begun before it runs: a change failing again leaves the transaction open and aborted, and only a ROLLBACK
        // lets the note be written (else 25P02, and the link backs off at every retry).
        _begun = true;
        bool ok;
        await using (var reader = await batch.ExecuteReaderAsync(ct).ConfigureAwait(false))
            ok = await reader.ReadAsync(ct).ConfigureAwait(false) && reader.GetBoolean(0);
        if (ok) return;
        var (type, resolution) = await ConflictHandler.HandleAsync(_conn, table, retried, _ctx, ct).ConfigureAwait(false);
        if (resolution == "dead_letter") throw new StillParkedException("the rules park it again: the conflict remains");
        _tally.AddConflict(retried, type.Name(), resolution);
    }

    private sealed class StillParkedException(string message) : Exception(message);

    /// <summary>
    /// An unguarded batch in the middle of a transaction met a conflict: its earlier batches are not kept, so the whole
    /// transaction is received and sent again, guarded (<see cref="ApplyMode.Guarded"/>).
    /// </summary>
    public sealed class OptimisticBatchException(ulong finalLsn, PostgresException inner) : Exception(inner.Message, inner)
    {
        public ulong FinalLsn { get; } = finalLsn;
        public PostgresException Error { get; } = inner;
    }

    /// <summary>Change number <paramref name="ordinal"/> of a careful replay failed and took the connection with it.</summary>
    public sealed class PoisonedChangeException(int ordinal, PostgresException inner) : Exception(inner.Message, inner)
    {
        public int Ordinal { get; } = ordinal;
        public PostgresException Error { get; } = inner;
    }

    /// <summary>
    /// A queued transaction failed on a data error: replay it change by change (careful mode). The transaction is one
    /// of those whose commit LSNs lie from <paramref name="fromLsn"/> to <paramref name="toLsn"/> (the same, when known).
    /// </summary>
    public sealed class ApplyDataException(ulong fromLsn, ulong toLsn, PostgresException inner) : Exception(inner.Message, inner)
    {
        public ulong FromLsn { get; } = fromLsn;
        public ulong ToLsn { get; } = toLsn;
        public PostgresException Error { get; } = inner;
    }

    /// <summary>
    /// Errors caused by what is applied — the data, the schema, a constraint, trigger or function of the target — not by
    /// the connection or the server's state: sending the same statements again cannot help, so the transaction is
    /// replayed change by change and what still fails is parked. Retried instead: connection failures (08), serialization
    /// failures and deadlocks (40), insufficient resources (53), a lock or an origin another session holds (55P03, 55006),
    /// operator intervention (57), system errors (58), a transaction the session left in a bad state (25: a fresh session
    /// fixes it), and pgmm's own conflict signal PM001.
    /// </summary>
    public static bool IsDataError(PostgresException e) =>
        e.SqlState is not ("PM001" or PostgresErrorCodes.LockNotAvailable or PostgresErrorCodes.ObjectInUse)
        && e.SqlState[..2] is not ("08" or "25" or "40" or "53" or "57" or "58");

    private NpgsqlBatchCommand Guarded(object item)
    {
        if (item is ParkRequest park) return DeadLetters.Park(park, _ctx, guarded: true);
        var change = (RowChange)item;
        return ChangeStatements.Guarded(_tables[change.Relation.Id], change, _ctx);
    }

    private void AddBegin(NpgsqlBatch batch)
    {
        if (_begun) return;
        batch.BatchCommands.Add(new NpgsqlBatchCommand("BEGIN"));
    }

    private static void AddCommit(NpgsqlBatch batch, TransactionCommit commit)
    {
        batch.BatchCommands.Add(ChangeStatements.Commit(new ChangeStatements.CommitCheck(commit.EndLsn, commit.CommitTimestamp)));
        batch.BatchCommands.Add(new NpgsqlBatchCommand("COMMIT"));
        AddPositions(batch);
    }

    private static void AddPositions(NpgsqlBatch batch) =>
        batch.BatchCommands.Add(new NpgsqlBatchCommand("SELECT pg_catalog.pg_current_wal_insert_lsn(), pg_catalog.pg_current_wal_flush_lsn()"));

    /// <summary>Target WAL position just after the last commit (its commit record ends before it).</summary>
    public ulong LastCommitLsn { get; private set; }

    /// <summary>How far the target has flushed its WAL, as last seen.</summary>
    public ulong TargetFlushed { get; private set; }

    // The commit batch ends with the positions query; every statement before it that returns rows is read past.
    private async Task ExecuteCommitAsync(NpgsqlBatch batch, CancellationToken ct)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        await using (var reader = await batch.ExecuteReaderAsync(ct).ConfigureAwait(false))
        {
            do
            {
                if (reader.FieldCount == 2 && reader.GetDataTypeName(0) == "pg_lsn" && await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    LastCommitLsn = (ulong)reader.GetFieldValue<NpgsqlLogSequenceNumber>(0);
                    TargetFlushed = (ulong)reader.GetFieldValue<NpgsqlLogSequenceNumber>(1);
                }
            } while (await reader.NextResultAsync(ct).ConfigureAwait(false));
        }
        Counters.RecordApply(System.Diagnostics.Stopwatch.GetElapsedTime(started));
    }

    /// <summary>Asks the target how far its WAL is flushed (between transactions).</summary>
    public async Task<ulong> RefreshFlushedAsync(CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("SELECT pg_catalog.pg_current_wal_flush_lsn()", _conn);
        TargetFlushed = (ulong)(NpgsqlLogSequenceNumber)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
        return TargetFlushed;
    }

    private static async Task ExecAsync(NpgsqlConnection conn, string sql, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }
}
