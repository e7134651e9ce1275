using PgMultiMaster.Setup;
using PgMultiMaster.Topology;

namespace PgMultiMaster.Cli.Commands;

internal static class UninstallCommand
{
    public static async Task<int> RunAsync(CliArgs args, CancellationToken ct)
    {
        var options = args.LoadOptions(requireNode: false);
        if (!args.Has("--yes"))
            throw new CliException($"this drops the replication slots of cluster '{options.Cluster}' on every node; " +
                                   "changes not yet replicated are lost. Stop the workers and add --yes to go on.");
        using var loggers = Logging.Console();
        await new ClusterInitializer(new ClusterTopology(options), loggers.CreateLogger("pgmm.uninstall")).UninstallAsync(ct);
        return 0;
    }
}
