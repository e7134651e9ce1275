namespace PgMultiMaster.Configuration;

/// <summary>How schema changes (DDL) made on one node reach the others (sql/009_ddl.sql, docs/configuration.md).</summary>
public enum DdlCapture
{
    /// <summary>
    /// An event trigger records every supported command on a replicated table, and refuses those that cannot replicate
    /// safely. Creating it needs a superuser (or rds_superuser/cloudsqlsuperuser): <c>init</c> says what to run otherwise.
    /// </summary>
    EventTrigger,

    /// <summary>Only commands run through <c>pgmm.replicate_ddl('…')</c> (or <c>pgmm ddl</c>) replicate; any role can set it up.</summary>
    Function,

    /// <summary>Nothing replicates; <c>pgmm.replicate_ddl</c> refuses. Schema changes are made on every node by hand.</summary>
    Off,
}

public sealed class DdlOptions
{
    /// <summary>
    /// <see cref="DdlCapture.Function"/> by default: it needs no superuser, and nothing of pgmm's runs inside the
    /// application's own DDL until an operator chooses the event trigger.
    /// </summary>
    public DdlCapture Capture { get; set; } = DdlCapture.Function;
}
