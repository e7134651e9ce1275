namespace PgMultiMaster.Configuration;

/// <summary>The <c>PgMultiMaster</c> configuration section: one file describes the whole cluster.</summary>
public sealed class PgMultiMasterOptions
{
    public const string SectionName = "PgMultiMaster";

    /// <summary>
    /// Prefix of every object PgMultiMaster creates on the servers: the publication, the slots
    /// (<c>{Cluster}_{source}_{target}</c>) and the replication origins (<c>{Cluster}_{source}</c>).
    /// Two clusters can share servers when their names differ.
    /// </summary>
    public string Cluster { get; set; } = "pgmm";

    /// <summary>The node this worker runs beside (<c>run --node</c>).</summary>
    public string? Node { get; set; }

    public List<NodeOptions> Nodes { get; set; } = [];

    /// <summary>Replicated tables: <c>schema.table</c> names or patterns such as <c>public.*</c>.</summary>
    public List<string> Tables { get; set; } = [];

    /// <summary>
    /// Tables (names or patterns) that only ever receive INSERTs, such as history and audit tables: they are
    /// replicated whether or not <see cref="Tables"/> also matches them, need no key, and only inserts and
    /// truncates replicate.
    /// </summary>
    public List<string> InsertOnlyTables { get; set; } = [];

    /// <summary>
    /// Tables (names or patterns) whose TRUNCATE is not applied on the other nodes: a TRUNCATE there stays local, for
    /// tables each node empties on its own schedule (staging, caches).
    /// </summary>
    public List<string> NoTruncateTables { get; set; } = [];

    public ApplyOptions Apply { get; set; } = new();

    public ConflictOptions Conflicts { get; set; } = new();

    public MonitoringOptions Monitoring { get; set; } = new();

    public SequenceOptions Sequences { get; set; } = new();

    public DdlOptions Ddl { get; set; } = new();
}

public sealed class NodeOptions
{
    public string Name { get; set; } = "";
    public string ConnectionString { get; set; } = "";
}

public sealed class ApplyOptions
{
    /// <summary>Changes sent to the target in one round trip.</summary>
    public int BatchSize { get; set; } = 2000;

    /// <summary>How often an idle link confirms its slot position so the source can recycle WAL.</summary>
    public TimeSpan FeedbackInterval { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Longest wait between reconnect attempts of a failed link.</summary>
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// Row data a link holds in memory at most (values counted as .NET strings, two bytes a character): what it has
    /// received ahead of the target, and what waits to be sent in a batch. One row larger than this still passes, alone.
    /// </summary>
    public long MaxBufferedBytes { get; set; } = 64L << 20;

    /// <summary>
    /// How long a link waits on a connection whose server has gone silent without closing it (a network partition,
    /// a firewall that dropped the flow, a paused server) before it gives the connection up and reconnects. The
    /// replication stream ends after this long without a message (the server is asked for one halfway); an apply
    /// connection waiting this long for an answer has its server asked over a fresh connection whether the
    /// statement is still running, and is given up unless it is (docs/adr/0014). Default 60 s, as PostgreSQL's
    /// <c>wal_receiver_timeout</c>.
    /// </summary>
    public TimeSpan DeadConnectionTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Apply with <c>session_replication_role = replica</c>, as PostgreSQL's own apply worker does:
    /// ordinary triggers and foreign-key checks do not fire twice for a replicated change.
    /// </summary>
    public bool ReplicaRole { get; set; } = true;

    /// <summary>
    /// Wait for each applied commit to reach the target's disk. Off by default, as in PostgreSQL's own apply
    /// worker: durability does not depend on it, because the source slot is confirmed only past what the target
    /// has flushed.
    /// </summary>
    public bool SynchronousCommit { get; set; }
}
