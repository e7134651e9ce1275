using Microsoft.Extensions.Logging;
using Npgsql;
using PgMultiMaster.Configuration;
using PgMultiMaster.Conflicts;
using PgMultiMaster.Decoding;
using PgMultiMaster.Failures;
using PgMultiMaster.Sql;
using PgMultiMaster.Topology;

namespace PgMultiMaster.Apply;

/// <summary>
/// The apply side of one link: a session on the target that replays each source transaction as one target
/// transaction and commits the replication origin's progress with the data (<c>pg_replication_origin_xact_setup</c>),
/// so a restart resumes exactly after the last applied transaction.
/// <para>
/// It holds what the transaction being received has not sent yet, and hands it on: to <see cref="ChangeSender"/>
/// (by <see cref="ApplyMode"/>), to the <see cref="TransactionQueue"/> when the whole transaction is in memory
/// (<see cref="QueueSender"/> sends many in one round trip), and between transactions to the
/// <see cref="DeadLetterRetrier"/>. A transaction that fits in one batch costs one round trip: BEGIN, its changes, a
/// halt check and COMMIT together.
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
    private readonly ApplyContext _ctx;
    private readonly TargetTransaction _tx;
    private readonly ChangeSender _sender;
    private readonly TransactionQueue _queue;
    private readonly QueueSender _queueSender;
    private readonly DeadLetterRetrier _retrier;
    private readonly IReadOnlyList<Setup.TablePattern> _noTruncate;
    private readonly DdlApplier _ddl;
    private readonly SchemaWait _schemaWait;
    private const string SchemaPrefix = "schema_mismatch: ";

    // Changes of the transaction being received, not yet sent, and their row data: sent once it reaches half the link's
    // byte budget (the other half is for what the receiver holds ahead).
    private readonly List<PendingChange> _pending = [];
    private long _pendingBytes;
    private long FlushBytes => _options.Apply.MaxBufferedBytes / 2;
    private TransactionBegin? _currentBegin;

    private TargetSession(NpgsqlConnection conn, ConnectionWatchdog watchdog, Link link, PgMultiMasterOptions options,
        SessionSetup.Prepared prepared, LinkCounters counters, TimeProvider time, ILogger logger, SchemaWait schemaWait)
    {
        _schemaWait = schemaWait;
        _noTruncate = [.. options.NoTruncateTables.Select(t => new Setup.TablePattern(t))];
        _conn = conn;
        _watchdog = watchdog;
        _link = link;
        _options = options;
        _ctx = prepared.Context;
        ClockOffset = prepared.ClockOffset;
        _tx = new TargetTransaction(conn, watchdog, counters, time) { Progress = prepared.Progress };
        _sender = new ChangeSender(_tx, _tables, _ctx);
        _queue = new TransactionQueue(options.Apply.BatchSize, FlushBytes, time);
        _queueSender = new QueueSender(_queue, _tx, _sender, _ctx);
        _retrier = new DeadLetterRetrier(_tx, _ctx, link, options.Conflicts);
        _ddl = new DdlApplier(_tx, link, logger);
    }

    /// <summary>End LSN of the last source transaction committed here (the origin's progress).</summary>
    public ulong Progress => _tx.Progress;

    /// <summary>Target server clock minus this process's clock, sampled when the session opened.</summary>
    public TimeSpan ClockOffset { get; }

    /// <summary>How the transaction being received is applied (set by the link at its BEGIN).</summary>
    public ApplyMode Mode { get; set; }

    /// <summary>Why every change of the transaction is parked, in <see cref="ApplyMode.ParkAll"/>.</summary>
    public string ParkReason { get; set; } = "";

    /// <summary>Changes of the transaction (by position) the careful replay parks unsent, and why (<see cref="Replication.ReplayPlan"/>).</summary>
    public IReadOnlyDictionary<int, string> Poisoned { get; set; } = new Dictionary<int, string>();

    /// <summary>Cancelled when the target stopped answering and this session is given up (<see cref="ConnectionWatchdog"/>).</summary>
    public CancellationToken Lost => _watchdog.Lost;

    /// <summary>The error to report for an operation that <see cref="Lost"/> ended.</summary>
    public TimeoutException GaveUp(Exception cancelled) => _watchdog.GaveUp(cancelled);

    /// <summary>The server process of this session.</summary>
    public int ProcessId => _conn.ProcessID;

    /// <summary>Target WAL position just after the last commit (its commit record ends before it).</summary>
    public ulong LastCommitLsn => _tx.Positions.LastCommitLsn;

    /// <summary>How far the target has flushed its WAL, as last seen.</summary>
    public ulong TargetFlushed => _tx.Positions.TargetFlushed;

    public static string ApplicationName(Link link) => $"pgmm apply {link}";

    /// <param name="connected">Told the server process as soon as the connection is open: before the session takes the
    /// link's replication origin, so a failure after that still leaves the next attempt a process to wait for (else it
    /// may race the exiting one for the origin: 55006, "is already active for PID").</param>
    public static async Task<TargetSession> OpenAsync(Link link, PgMultiMasterOptions options, LinkCounters counters, ILogger logger,
        TimeProvider time, Action<int> connected, SchemaWait schemaWait, CancellationToken linkCt)
    {
        var conn = new NpgsqlConnection(ConnectionStrings.ForApply(link.Target.ConnectionString, ApplicationName(link)));
        var timeout = options.Apply.DeadConnectionTimeout;
        var watchdog = new ConnectionWatchdog(conn, ConnectionStrings.ForProbe(link.Target.ConnectionString, $"pgmm probe {link}", timeout),
            $"the apply connection to node '{link.Target.Name}'", timeout, time);
        using var opening = CancellationTokenSource.CreateLinkedTokenSource(linkCt, watchdog.Lost);
        try
        {
            await conn.OpenAsync(opening.Token).ConfigureAwait(false);
            connected(conn.ProcessID);
            var prepared = await SessionSetup.RunAsync(conn, link, options, logger, time, opening.Token).ConfigureAwait(false);
            return new TargetSession(conn, watchdog, link, options, prepared, counters, time, logger, schemaWait);
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
        _sender.TransactionStarted();
        _ctx.CommitTimestamp = begin.CommitTimestamp;
        _ctx.CommitLsn = begin.FinalLsn;
    }

    /// <summary>The transaction being received is wholly in memory and can be sent later with others.</summary>
    public bool CanQueue => !_tx.Begun && Mode < ApplyMode.Careful && _pending.Count > 0 && _currentBegin is not null;

    public bool HasQueue => _queue.Count > 0;

    /// <summary>
    /// Keeps the received transaction to send with the ones after it: one round trip for many transactions.
    /// <paramref name="onCommitted"/> learns where the target committed it.
    /// </summary>
    public async Task QueueAsync(TransactionCommit commit, Action<ulong> onCommitted, CancellationToken ct)
    {
        var due = _queue.Add(new QueuedTransaction(_currentBegin!, commit, [.. _pending], _pendingBytes, onCommitted));
        _pending.Clear();
        _pendingBytes = 0;
        if (due) await FlushQueueAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Sends the queued transactions (<see cref="QueueSender"/>).</summary>
    public Task FlushQueueAsync(CancellationToken ct) => _queueSender.FlushAsync(ct);

    /// <summary>A relation was (re)described by the source: learn how to find its rows here.</summary>
    public async Task DescribeAsync(RelationInfo relation, CancellationToken ct)
    {
        await FlushQueueAsync(ct).ConfigureAwait(false);
        await FlushAsync(ct).ConfigureAwait(false);
        _tables.Remove(relation.Id);
        _mismatched.Remove(relation.Id);
        try
        {
            _tables[relation.Id] = await LoadTableAsync(relation, ct).ConfigureAwait(false);
            _schemaWait.Fits(relation.QualifiedName);
        }
        catch (SchemaMismatchException e) when (_schemaWait.ShouldWait(relation.QualifiedName))
        {
            // A schema change on its way from another node (SchemaWait): read the transaction again after a back-off.
            throw new SchemaMismatchException($"{e.Message[SchemaPrefix.Length..]} Waiting up to {_schemaWait.Grace.TotalSeconds:0} s for a schema " +
                                              "change from another node to arrive before parking its changes.");
        }
        catch (SchemaMismatchException e)
        {
            // Its changes are parked until the schema is fixed; the stream goes on.
            _mismatched[relation.Id] = (relation, e.Message);
        }
    }

    /// <summary>
    /// A schema change of the source, at its place in the transaction (<see cref="DdlApplier"/>): what came before it
    /// is sent first, and the transaction is never queued with others, so nothing written after it can overtake it.
    /// pgoutput describes a changed table again before its next row (<see cref="DescribeAsync"/>).
    /// </summary>
    public async Task ApplyDdlAsync(DdlCommand ddl, CancellationToken ct)
    {
        await FlushQueueAsync(ct).ConfigureAwait(false);
        await FlushAsync(ct).ConfigureAwait(false);
        await _ddl.ApplyAsync(ddl, ct).ConfigureAwait(false);
        // Statements prepared against the old shape of a table must not run against the new one.
        // (Npgsql has no asynchronous form; a schema change is rare.)
        _conn.UnprepareAll();
        // A table whose changes were parked for a missing column may now have it.
        foreach (var (id, (relation, _)) in _mismatched.ToList())
        {
            try
            {
                _tables[id] = await LoadTableAsync(relation, ct).ConfigureAwait(false);
                _mismatched.Remove(id);
            }
            catch (SchemaMismatchException) { /* still mismatched */ }
        }
    }

    private Task<TargetTable> LoadTableAsync(RelationInfo relation, CancellationToken ct) =>
        TargetTable.LoadAsync(_conn, relation, _link.Target.Name, new TableRules(_options.Conflicts, relation.QualifiedName), ct);

    public async Task ApplyAsync(RowChange change, CancellationToken ct)
    {
        // Under REPLICA IDENTITY FULL the old row is complete: an unchanged TOAST value is the old value.
        if (change is { Kind: ChangeKind.Update, Old: not null, New: not null } && change.Relation.Identity == ReplicaIdentity.Full
            && change.New.Any(c => c.IsUnchanged))
            change = change with { New = change.New.Select((c, i) => c.IsUnchanged ? change.Old[i] : c).ToArray() };

        if (Mode == ApplyMode.ParkAll)
            // A person decides: the transaction as a whole was refused, its parts may not stand alone.
            _pending.Add(PendingChange.Parked(new ParkRequest(change, null, ParkReason, Retryable: false)));
        else if (_mismatched.TryGetValue(change.Relation.Id, out var mismatch))
            _pending.Add(PendingChange.Parked(new ParkRequest(change, ConflictType.SchemaMismatch, mismatch.Reason, Retryable: true)));
        else if (_tables.TryGetValue(change.Relation.Id, out var table) && ChangeStatements.IsKeyChange(table, change))
        {
            // A new key is a different row: the old one is deleted and the new one inserted, each under the
            // rules for deletes and inserts, so a key change converges like any delete and insert.
            _pending.Add(new PendingChange(change with { Kind = ChangeKind.Delete, New = null }));
            _pending.Add(new PendingChange(change with { Kind = ChangeKind.Insert, Old = null }));
        }
        else if (table is not null && ChangeStatements.IdentityChange(table, change) is var (column, was))
            // No UPDATE can write it (428C9): parked with why, rather than failing the transaction into a careful replay.
            _pending.Add(PendingChange.Parked(new ParkRequest(change, null, ChangeStatements.IdentityChangeReason(table, change, column, was), Retryable: true)));
        else _pending.Add(new PendingChange(change));
        _pendingBytes += change.MemorySize;
        if (_pending.Count >= _options.Apply.BatchSize || _pendingBytes >= FlushBytes)
        {
            await FlushQueueAsync(ct).ConfigureAwait(false);
            await FlushAsync(ct, Mode == ApplyMode.Optimistic).ConfigureAwait(false);
        }
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
        _tx.AddBegin(batch);
        _tx.Begun = true;
        if (Mode == ApplyMode.ParkAll)
        {
            batch.BatchCommands.Add(DeadLetters.ParkTruncate(tables, truncate.RestartIdentity, ParkReason, _ctx));
            await batch.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            _tx.Tally.Parked++;
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
        catch (PostgresException e) when (FailureClassifier.IsDataError(e) && _tx.IsOpen)
        {
            await using var park = new NpgsqlBatch(_conn);
            park.BatchCommands.Add(new NpgsqlBatchCommand("ROLLBACK TO SAVEPOINT pgmm_truncate"));
            park.BatchCommands.Add(DeadLetters.ParkTruncate(tables, truncate.RestartIdentity, $"{e.SqlState}: {e.MessageText}", _ctx));
            await park.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            _tx.Tally.Parked++;
        }
    }

    /// <summary>Commits the target transaction together with the origin's progress; nothing to do if it applied no change.</summary>
    public async Task<bool> CommitAsync(TransactionCommit commit, CancellationToken ct)
    {
        await FlushQueueAsync(ct).ConfigureAwait(false);
        if (!_tx.Begun && _pending.Count == 0) return false;
        if (!_tx.Begun && Mode < ApplyMode.Careful)
        {
            // Common case: the whole transaction in one round trip. A conflict makes the halt check roll it back;
            // then it is sent again with the conflict resolved on the way.
            try
            {
                await using var batch = new NpgsqlBatch(_conn);
                _tx.AddBegin(batch);
                foreach (var segment in _sender.Segments(_pending)) batch.BatchCommands.Add(_sender.Command(segment, _pending, whole: true));
                TargetTransaction.AddCommit(batch, commit, _ctx.OriginName);
                await _tx.ExecuteCommitAsync(batch, ct).ConfigureAwait(false);
                _tx.Counters.AddRows(_pending);
                Committed(commit);
                return true;
            }
            catch (PostgresException e) when (FailureClassifier.IsConflictSignal(e))
            {
                await _tx.ExecAsync("ROLLBACK", ct).ConfigureAwait(false);
            }
        }
        // The rest of a large transaction, or (not begun) the whole of one that met a conflict, now guarded.
        await FlushAsync(ct, optimistic: _tx.Begun && Mode == ApplyMode.Optimistic).ConfigureAwait(false);
        await using (var batch = new NpgsqlBatch(_conn))
        {
            TargetTransaction.AddCommit(batch, commit, _ctx.OriginName);
            await _tx.ExecuteCommitAsync(batch, ct).ConfigureAwait(false);
        }
        Committed(commit);
        return true;
    }

    private void Committed(TransactionCommit commit)
    {
        _tx.Counters.AddRows(_tx.Tally);
        _pending.Clear();
        _pendingBytes = 0;
        _tx.Begun = false;
        Mode = ApplyMode.Optimistic;
        _tx.Applied(commit);
    }

    /// <summary>Sends what is pending inside the open transaction (<see cref="ChangeSender"/>).</summary>
    private async Task FlushAsync(CancellationToken ct, bool optimistic = false)
    {
        var items = _pending.ToList();
        _pending.Clear();
        _pendingBytes = 0;
        await _sender.SendAsync(items, Mode, optimistic, Poisoned, ct).ConfigureAwait(false);
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
                _tables[id] = await LoadTableAsync(relation, ct).ConfigureAwait(false);
                _mismatched.Remove(id);
            }
            catch (SchemaMismatchException) { /* still missing */ }
        }
        return await _retrier.RetryAsync(interval, ct).ConfigureAwait(false);
    }

    /// <summary>Asks the target how far its WAL is flushed (between transactions).</summary>
    public Task<ulong> RefreshFlushedAsync(CancellationToken ct) => _tx.Positions.RefreshFlushedAsync(_conn, ct);

    /// <summary>Abandons an open transaction (after a failure, or when the stream broke mid-transaction).</summary>
    public async Task RollbackAsync()
    {
        _pending.Clear();
        _pendingBytes = 0;
        await _tx.RollbackAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await RollbackAsync().ConfigureAwait(false);
        await _watchdog.DisposeAsync().ConfigureAwait(false);
        await _conn.DisposeAsync().ConfigureAwait(false);
    }
}
