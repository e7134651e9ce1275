namespace PgMultiMaster.Configuration;

/// <summary>What the worker serves over HTTP and how it judges its links: <c>PgMultiMaster:Monitoring</c>.</summary>
public sealed class MonitoringOptions
{
    /// <summary>
    /// Where the worker serves <c>/metrics</c>, <c>/healthz</c>, <c>/readyz</c>, <c>/api/status</c> and the dashboard
    /// (ASP.NET Core URL syntax; port 0 picks a free port). Empty: no HTTP at all.
    /// </summary>
    public string Urls { get; set; } = "http://127.0.0.1:9478";

    /// <summary>
    /// When set, <c>/api/*</c> needs it as <c>Authorization: Bearer …</c> (the dashboard asks for it once). Required when
    /// <see cref="Urls"/> binds more than loopback, unless <see cref="AllowAnonymous"/>.
    /// </summary>
    public string? AccessToken { get; set; }

    /// <summary>Serve <c>/api/*</c> without <see cref="AccessToken"/> on an address beyond loopback (a trusted network only).</summary>
    public bool AllowAnonymous { get; set; }

    /// <summary>
    /// False: <c>/api/*</c> and the dashboard show conflicts and dead letters without their rows and keys, and their
    /// PostgreSQL errors without the values they quote. <c>pgmm conflicts</c> and <c>pgmm dead-letter</c> still show them.
    /// </summary>
    public bool ShowRowValues { get; set; } = true;

    /// <summary>A link further behind than this (source commit → target commit) is not ready, and <c>pgmm status</c> fails.</summary>
    public TimeSpan MaxLag { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>A link with more unconfirmed source WAL than this is not ready, and <c>pgmm status</c> fails.</summary>
    public long MaxLagBytes { get; set; } = 1L << 30;

    /// <summary>
    /// A slot holding more of its source's WAL than this (WAL end minus <c>restart_lsn</c>) is flagged: <c>pgmm status</c>
    /// fails and names it, the dashboard marks it, and <c>pgmm_link_wal_retained_limit_bytes</c> exports the bound for
    /// alerts. Typically a link whose target has been down long: past the server's <c>max_slot_wal_keep_size</c> the slot
    /// is invalidated, so keep this below it (docs/operations.md: Removing a node).
    /// </summary>
    public long MaxWalRetainedBytes { get; set; } = 10L << 30;

    /// <summary>How often the worker measures its links' slots and publishes its status to its node.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(2);
}
