namespace PgMultiMaster.Cli;

internal static class Usage
{
    public static int Print(TextWriter to, int exitCode, string? error = null)
    {
        if (error is not null) to.WriteLine($"pgmm: {error}");
        to.WriteLine("""
            PgMultiMaster — multi-master replication for PostgreSQL

            usage: pgmm VERB [--config PATH] [options]

              init                 check prerequisites, then create the pgmm schema, publications, slots and origins on every node
              check                only check prerequisites and tables on every node; change nothing
              run --node NAME      run the worker beside node NAME (Ctrl-C or SIGTERM stops it cleanly)
              diff                 compare every replicated table across the nodes (row counts and checksums)
              status [--json]      every node's worker and links (state, lag, WAL retained, errors); exit 1 when a link is
                                   down, backing off or beyond Monitoring:MaxLag / MaxLagBytes
              conflicts [--on NODE] [--table T] [--type TYPE] [--since 1h|TIMESTAMP] [--limit N]
                                   recent conflicts and how they were resolved, from every node's pgmm.conflict_log
              dead-letter list|show|retry|discard [--on NODE] [--id N | --all] [--wait]
                                   parked changes: list them, show one, retry (applies even if the conflict remains), discard
              uninstall --yes      drop the slots, origins and publications of the cluster (stop the workers first)
              demo [--seconds N] [--port P] [--keep]
                                   start three local PostgreSQL servers, replicate concurrent writes, print checksums

            The configuration is ./appsettings.json (section PgMultiMaster) or --config PATH; any key can be overridden by
            environment variables (PgMultiMaster__Node=east) or flags (--PgMultiMaster:Apply:BatchSize=200).
            Exit codes: 0 success, 1 failure or nodes differ, 2 bad configuration or unmet prerequisites.
            """);
        return exitCode;
    }
}
