using Microsoft.Extensions.Logging;
using Npgsql;
using Npgsql.Replication;
using Npgsql.Replication.Internal;
using Npgsql.Replication.PgOutput;
using NpgsqlTypes;
using PgMultiMaster.Apply;
using PgMultiMaster.Configuration;
using PgMultiMaster.Decoding;
using PgMultiMaster.Diagnostics;
using PgMultiMaster.Failures;
using PgMultiMaster.Progress;
using PgMultiMaster.Sql;
using PgMultiMaster.Topology;
using Polly;
using Polly.Retry;

namespace PgMultiMaster.Replication;

/// <summary>
/// Runs one link (source → target) until cancelled: stream the source slot, skip what arrived by replication,
/// apply the rest to the target, and on any failure back off and resume from the target's durable progress.
/// A failing link never touches the others.
/// </summary>
public sealed class LinkRunner(Link link, ClusterTopology topology, ILogger logger, TimeProvider time)
{
    public LinkStatus Status { get; } = new() { Source = link.Source.Name, Target = link.Target.Name };

    public Link Link => link;

    // Which transactions are received again after a failure, and how they are applied then.
    private readonly ReplayPlan _replay = new();

    // A table or column a schema change from another node is still bringing: wait a while rather than park.
    private readonly SchemaWait _schemaWait = new(
        topology.Options.Ddl.Capture == DdlCapture.Off ? TimeSpan.Zero : 4 * topology.Options.Apply.MaxRetryDelay, time);

    private readonly ClockSkewGuard _skew = new(topology.Options.Conflicts.MaxClockSkew, time);

    private bool _rulesChecked;
    private DateTimeOffset _lastRetry;
    private readonly AbandonedSessions _abandoned = new(link.ToString(), logger);

    /// <summary>The conflict rules must fit the target's catalog (tables, columns, identity, functions) before anything applies.</summary>
    private async Task CheckRulesAsync(CancellationToken ct)
    {
        await using var conn = await ConnectionStrings.OpenAdminAsync(link.Target.ConnectionString, "pgmm check", ct).ConfigureAwait(false);
        var tables = new List<string>();
        var insertOnly = new List<string>();
        await using (var cmd = new NpgsqlCommand("SELECT schemaname || '.' || tablename, pubname = $2 FROM pg_publication_tables WHERE pubname = ANY($1) AND schemaname <> 'pgmm'", conn))
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = new[] { topology.Publication, topology.InsertOnlyPublication } });
            cmd.Parameters.Add(new NpgsqlParameter { Value = topology.InsertOnlyPublication });
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false))
            {
                tables.Add(r.GetString(0));
                if (r.GetBoolean(1)) insertOnly.Add(r.GetString(0));
            }
        }
        var problems = await Setup.ConflictRulesCheck.RunAsync(conn, link.Target.Name, topology.Options.Conflicts, tables, insertOnly, ct).ConfigureAwait(false);
        if (problems.Count > 0) throw new ConfigurationException(problems);
    }

    private async Task HoldForClockSkewAsync(DateTime remoteCommit, CancellationToken ct)
    {
        var hold = _skew.HoldFor(remoteCommit);
        Status.ClockSkew = _skew.LastSkew;
        if (hold <= TimeSpan.Zero) return;
        Status.State = LinkState.HoldingForClockSkew;
        Log.ClockSkewHold(logger, link.ToString(), _skew.LastSkew, topology.Options.Conflicts.MaxClockSkew);
        await _skew.WaitAsync(hold, ct).ConfigureAwait(false);
        Status.State = LinkState.Streaming;
    }

    public async Task RunAsync(CancellationToken ct)
    {
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = time }
            .AddRetry(new RetryStrategyOptions
            {
                MaxRetryAttempts = int.MaxValue,
                BackoffType = DelayBackoffType.Exponential,
                DelayGenerator = args => new ValueTask<TimeSpan?>(
                    args.Outcome.Exception is { } e && FailureClassifier.Classify(e) == FailureKind.Replay ? TimeSpan.Zero : null),
                UseJitter = true,
                Delay = TimeSpan.FromMilliseconds(200),
                MaxDelay = topology.Options.Apply.MaxRetryDelay,
                // Everything but a stop and a failure retrying cannot fix (each caught below); a bug too, with its stack.
                ShouldHandle = new PredicateBuilder().Handle<Exception>(e => FailureClassifier.Classify(e) is not (FailureKind.Cancelled or FailureKind.Fatal)),
                OnRetry = args =>
                {
                    var e = args.Outcome.Exception!;
                    Status.State = LinkState.BackingOff;
                    Status.Retries++;
                    // Shown to anyone who reaches /readyz or /api/*: never a row value (see ErrorText). The log keeps the message.
                    Status.LastError = ErrorText.Of(e);
                    Status.LastErrorAt = time.GetUtcNow();
                    // Expected failures (a server down, a conflict) are told in one line; anything else with its stack.
                    Log.LinkFailed(logger, link.ToString(), e.Message, args.RetryDelay, FailureClassifier.Classify(e) == FailureKind.Unexpected ? e : null);
                    return default;
                },
            })
            .Build();

        try
        {
            await pipeline.ExecuteAsync(StreamOnceAsync, ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            Status.State = LinkState.Stopped;
            Log.LinkStopped(logger, link.ToString());
        }
        // The failures FailureClassifier calls Fatal, one catch each: none is retried.
        catch (LinkStopException e)
        {
            var state = e.SlotLost ? LinkState.SlotLost : LinkState.Failed;
            Status.State = state;
            Status.LastError = ErrorText.Of(e);
            Status.LastErrorAt = time.GetUtcNow();
            Log.LinkHalted(logger, link.ToString(), LinkStatus.NameOf(state), e.Message);
        }
        catch (ConfigurationException e)
        {
            // Rules that cannot work on this target: retrying changes nothing until the configuration is fixed.
            Status.State = LinkState.Failed;
            Status.LastError = ErrorText.Of(e);
            Status.LastErrorAt = time.GetUtcNow();
            Log.LinkAuthFailed(logger, link.ToString(), e.Message);
        }
        catch (PostgresException e) when (FailureClassifier.Classify(e) == FailureKind.Fatal)
        {
            // Retrying a wrong password only locks accounts and hides the cause.
            Status.State = LinkState.Failed;
            Status.LastError = ErrorText.Of(e);
            Status.LastErrorAt = time.GetUtcNow();
            Log.LinkAuthFailed(logger, link.ToString(), e.Message);
        }
    }

    /// <summary>
    /// A server certificate that does not verify will not start verifying by itself: like rules that do not fit, the
    /// link stops until the configuration (or the certificate) is fixed, with a message naming the node.
    /// </summary>
    private static async Task<T> Connecting<T>(NodeOptions node, Func<Task<T>> open)
    {
        try
        {
            return await open().ConfigureAwait(false);
        }
        catch (Exception e) when (ConnectionErrors.IsCertificateRejected(e))
        {
            throw new LinkStopException($"node '{node.Name}': cannot connect: {ConnectionErrors.Describe(e)}", inner: e);
        }
    }

    private async ValueTask StreamOnceAsync(CancellationToken ct)
    {
        // Sessions of the attempt before that a server may still keep, if their connection was given up as silent.
        await _abandoned.EndAsync(ct).ConfigureAwait(false);
        await using var target = await Connecting(link.Target, () => TargetSession.OpenAsync(link, topology.Options, Status.Counters, logger, time,
            pid => _abandoned.Opened(link.Target, pid, TargetSession.ApplicationName(link)), _schemaWait, ct)).ConfigureAwait(false);
        // Everything ends when the target stops answering (ConnectionWatchdog); the link then reconnects.
        using var alive = CancellationTokenSource.CreateLinkedTokenSource(ct, target.Lost);
        try
        {
            await StreamAsync(target, alive.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException e) when (target.Lost.IsCancellationRequested && !ct.IsCancellationRequested)
        {
            throw target.GaveUp(e);
        }
    }

    private async Task StreamAsync(TargetSession target, CancellationToken ct)
    {
        var options = topology.Options.Apply;
        if (!_rulesChecked)
        {
            await CheckRulesAsync(ct).ConfigureAwait(false);
            _rulesChecked = true;
        }
        var resumeFrom = target.Progress;

        // A link resumes only where it can prove the slot still holds everything the target lacks (ADR 0013).
        await using var record = await Connecting(link.Source, () => SlotRecord.OpenAsync(link, ct)).ConfigureAwait(false);
        var slotFacts = await record.ReadAsync(ct).ConfigureAwait(false);
        var (verdict, why) = ResumeCheck.Decide(link, slotFacts, resumeFrom);
        switch (verdict)
        {
            case ResumeVerdict.SlotLost: throw new LinkStopException(why!, slotLost: true);
            case ResumeVerdict.Gap or ResumeVerdict.SourceBehind: throw new LinkStopException(why!);
            case ResumeVerdict.NotCreated: throw new SlotRecord.NotInitializedException(why!);
        }
        if (slotFacts.RecordedApplied is null) await record.EnsureAsync(ct).ConfigureAwait(false);

        var applicationName = $"pgmm stream {link}";
        await using var source = new LogicalReplicationConnection(ConnectionStrings.ForReplication(link.Source.ConnectionString, applicationName));
        source.WalReceiverStatusInterval = options.FeedbackInterval;
        // A stream without a message for this long is given up (Npgsql asks the server for one halfway through), as
        // PostgreSQL's own wal_receiver_timeout does: a source gone silent is noticed, and the link reconnects.
        source.WalReceiverTimeout = options.DeadConnectionTimeout;
        await Connecting(link.Source, async () => { await source.Open(ct).ConfigureAwait(false); return true; }).ConfigureAwait(false);
        _abandoned.Opened(link.Source, source.ProcessID, applicationName);
        // Until the link has confirmed what the source had written when it connected, it is catching up.
        Status.CatchUpTo = (ulong)(await source.IdentifySystem(ct).ConfigureAwait(false)).XLogPos;
        // Received and decoded ahead of the apply side, so the stream is read while the target works.
        var events = new StreamReceiver(options.MaxBufferedBytes);
        using var feedback = new FeedbackGate(options.FeedbackInterval, slotFacts.ConfirmedFlush, resumeFrom, slotFacts.RecordedApplied ?? 0,
            lsn => source.SetReplicationStatus(new NpgsqlLogSequenceNumber(lsn)), () => (ulong)source.LastReceivedLsn, () => events.Unhandled, time);
        var recordedAt = time.GetUtcNow();
        // The source records how far the slot may pass applied transactions before it does: between transactions at
        // once, under a steady stream once per FeedbackInterval (one small durable commit on the source).
        async Task RecordAppliedAsync(bool now)
        {
            if (feedback.Unrecorded is not { } applied || !now && time.GetUtcNow() - recordedAt < options.FeedbackInterval) return;
            await record.RecordAsync(applied, ct).ConfigureAwait(false);
            recordedAt = time.GetUtcNow();
            feedback.Recorded(applied);
        }

        var slot = new PgOutputReplicationSlot(link.SlotName);
        // pgoutput, protocol version 1, text values; read raw and parsed by ChangeDecoder.
        KeyValuePair<string, string?>[] replication =
        [
            new("proto_version", "1"),
            new("publication_names", $"\"{topology.Publication}\",\"{topology.InsertOnlyPublication}\""),
        ];

        Status.State = LinkState.Streaming;
        Log.LinkStreaming(logger, link.ToString(), link.SlotName, new NpgsqlLogSequenceNumber(resumeFrom).ToString());

        // What to do with the transaction being received: apply it, or skip it because it came from another node
        // by replication (echo) or was applied before a restart.
        var skip = false;
        ulong current = 0;
        using var streaming = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var receiving = events.RunAsync(source.StartLogicalReplication(slot, streaming.Token, new NpgsqlLogSequenceNumber(resumeFrom), replication),
            new ChangeDecoder(topology.IsClusterOrigin).DecodeAsync, streaming.Token);
        try
        {
            var inTransaction = false;
            Task? tick = null;
            while (true)
            {
                if (!events.TryRead(out var next))
                {
                    if (!inTransaction)
                    {
                        // Idle between transactions. One timer ticking every FeedbackInterval, shared by all waits (a
                        // timer per wait would leave thousands pending under a live load): it wakes the loop to learn
                        // how far the target has flushed, and now and then to retry parked changes.
                        var arrival = events.WaitToReadAsync(ct).AsTask();
                        while (await Task.WhenAny(arrival, tick ??= Task.Delay(options.FeedbackInterval, time, ct)).ConfigureAwait(false) != arrival)
                        {
                            tick = null;
                            if (feedback.AwaitingFlush) feedback.TargetFlushed(await target.RefreshFlushedAsync(ct).ConfigureAwait(false));
                            await RecordAppliedAsync(now: true).ConfigureAwait(false);
                            Status.ConfirmedLsn = Math.Max(Status.ConfirmedLsn, feedback.Confirmed);
                            if (time.GetUtcNow() - _lastRetry < topology.Options.Conflicts.RetryInterval) continue;
                            _lastRetry = time.GetUtcNow();
                            Status.RetriedFromDeadLetter += await target.RetryParkedAsync(topology.Options.Conflicts.RetryInterval, ct).ConfigureAwait(false);
                        }
                    }
                    // False once the stream has ended; throws the receiver's error if it failed.
                    if (!await events.WaitToReadAsync(ct).ConfigureAwait(false)) break;
                    continue;
                }
                if (next is StreamIdle)
                {
                    // Nothing more to read right now: send what is queued instead of waiting with it.
                    if (target.HasQueue)
                    {
                        await target.FlushQueueAsync(ct).ConfigureAwait(false);
                        feedback.TargetFlushed(target.TargetFlushed);
                    }
                    continue;
                }
                inTransaction = next is not TransactionCommit && (inTransaction || next is TransactionBegin);
                switch (next)
                {
                    case TransactionBegin begin:
                        feedback.TransactionStarted();
                        skip = begin.FinalLsn < resumeFrom;
                        current = begin.FinalLsn;
                        target.Begin(begin);
                        target.Mode = _replay.ModeOf(begin.FinalLsn);
                        (target.ParkReason, target.Poisoned) = (_replay.ParkReason, _replay.Poisoned);
                        if (!skip) await HoldForClockSkewAsync(begin.CommitTimestamp - target.ClockOffset, ct).ConfigureAwait(false);
                        break;
                    // Replayed by one of this cluster's links: its origin node sends it to every peer itself. Or written by
                    // pgmm repair, which writes on every node that needs it.
                    // Changes that other replication brought into the source are the source's own, and go on.
                    case TransactionOrigin origin when topology.IsClusterOrigin(origin.OriginName):
                        skip = true;
                        Status.TransactionsSkippedAsEcho++;
                        break;
                    // pgmm's DDL queue: each INSERT is a schema change to run here, at this place in the stream.
                    case RelationChanged relation when DdlCommand.IsLog(relation.Relation):
                        break;
                    case RowChange change when DdlCommand.IsLog(change.Relation):
                        if (!skip && change.Kind == ChangeKind.Insert) await target.ApplyDdlAsync(DdlCommand.From(change), ct).ConfigureAwait(false);
                        break;
                    case RelationChanged relation:
                        await target.DescribeAsync(relation.Relation, ct).ConfigureAwait(false);
                        break;
                    case RowChange change when !skip:
                        await target.ApplyAsync(change, ct).ConfigureAwait(false);
                        break;
                    case TableTruncate truncate when !skip:
                        await target.TruncateAsync(truncate, ct).ConfigureAwait(false);
                        break;
                    case TransactionCommit commit:
                        var wrote = false;
                        if (!skip && target.CanQueue)
                        {
                            // Sent later, together with the transactions after it (see FlushQueueAsync).
                            await target.QueueAsync(commit, feedback.TransactionQueued(commit.EndLsn), ct).ConfigureAwait(false);
                            feedback.TargetFlushed(target.TargetFlushed);
                            await RecordAppliedAsync(now: false).ConfigureAwait(false);
                            Status.ConfirmedLsn = Math.Max(Status.ConfirmedLsn, feedback.Confirmed);
                            skip = false;
                            break;
                        }
                        if (!skip)
                        {
                            wrote = await target.CommitAsync(commit, ct).ConfigureAwait(false);
                            Log.TransactionApplied(logger, link.ToString(), new NpgsqlLogSequenceNumber(commit.EndLsn).ToString(), Status.RowsApplied);
                        }
                        feedback.TransactionDone(commit.EndLsn, wrote ? target.LastCommitLsn : 0);
                        feedback.TargetFlushed(target.TargetFlushed);
                        await RecordAppliedAsync(now: false).ConfigureAwait(false);
                        // A busy source never leaves the link idle: parked changes get their turn between transactions too.
                        if (time.GetUtcNow() - _lastRetry > topology.Options.Conflicts.RetryInterval)
                        {
                            _lastRetry = time.GetUtcNow();
                            Status.RetriedFromDeadLetter += await target.RetryParkedAsync(topology.Options.Conflicts.RetryInterval, ct).ConfigureAwait(false);
                        }
                        Status.ConfirmedLsn = Math.Max(Status.ConfirmedLsn, feedback.Confirmed);
                        skip = false;
                        break;
                }
            }
        }
        catch (NpgsqlException e) when (e.InnerException is TimeoutException)
        {
            // Only reads of the replication stream time out here (apply commands have no timeout; see ConnectionWatchdog).
            throw new TimeoutException($"the replication stream from node '{link.Source.Name}' was given up: no message for {options.DeadConnectionTimeout.TotalSeconds.ToString("0.#", System.Globalization.CultureInfo.InvariantCulture)} s", e);
        }
        catch (UndecodableMessageException e)
        {
            throw new LinkStopException($"{e.Message}. The link stops rather than skip or alter it; restart the worker to read it again, " +
                                        "and report it with the source's PostgreSQL version if it fails the same way", inner: e);
        }
        catch (OptimisticBatchException e) when (_replay.ModeOf(e.FinalLsn) == ApplyMode.Optimistic)
        {
            throw new ReplayException(_replay.AfterConflictInUnguardedBatch(e.FinalLsn, e.Error.SqlState), e);
        }
        catch (ApplyDataException e) when (_replay.ModeOf(e.ToLsn) < ApplyMode.ParkAll)
        {
            throw new ReplayException(_replay.AfterDataError(e.FromLsn, e.ToLsn, e.Error), e);
        }
        catch (PoisonedChangeException e) when (_replay.ModeOf(current) == ApplyMode.Careful)
        {
            throw new ReplayException(_replay.AfterPoisonedChange(current, e.Ordinal, e.Error), e);
        }
        catch (PostgresException e) when (FailureClassifier.IsDataError(e) && _replay.ModeOf(current) < ApplyMode.ParkAll)
        {
            // A change the target refuses (a type error, a constraint, a trigger's error): replay this transaction change
            // by change, parking what fails, instead of stopping the link; if even that cannot commit, park it whole.
            throw new ReplayException(_replay.AfterDataError(current, current, e), e);
        }
        finally
        {
            // The receiver must finish before the connection is disposed; it never throws.
            await streaming.CancelAsync().ConfigureAwait(false);
            await receiving.ConfigureAwait(false);
            // A transaction cut off mid-stream is rolled back; it is sent again from its beginning after reconnecting.
            await target.RollbackAsync().ConfigureAwait(false);
        }

        throw new NpgsqlException($"The source closed the replication stream of slot {link.SlotName}.");
    }
}
