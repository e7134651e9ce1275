using PgMultiMaster.Setup;
using PgMultiMaster.Topology;

namespace PgMultiMaster.Cli.Commands;

internal static class UninstallCommand
{
    public static async Task<int> RunAsync(CliConfiguration configuration, bool yes, CancellationToken ct)
    {
        var options = configuration.LoadOptions(requireNode: false);
        if (!yes)
            throw new CliException($"this drops the replication slots of cluster '{options.Cluster}' on every node; " +
                                   "changes not yet replicated are lost. Stop the workers and add --yes to go on.");
        using var loggers = Logging.Console();
        await new ClusterInitializer(new ClusterTopology(options), loggers.CreateLogger("pgmm.uninstall")).UninstallAsync(ct);
        return 0;
    }
}
