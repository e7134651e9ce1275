using PgMultiMaster.Setup;
using PgMultiMaster.Topology;

namespace PgMultiMaster.Cli.Commands;

internal static class InitCommand
{
    public static async Task<int> RunAsync(CliConfiguration configuration, CancellationToken ct)
    {
        var options = configuration.LoadOptions(requireNode: false);
        using var loggers = Logging.Console();
        try
        {
            var tables = await new ClusterInitializer(new ClusterTopology(options), loggers.CreateLogger("pgmm.init")).InitAsync(ct);
            Console.WriteLine($"Cluster '{options.Cluster}' is ready: {options.Nodes.Count} nodes, {tables.Count} tables " +
                              $"({string.Join(", ", tables.Select(t => t.Quoted + (t.InsertOnly ? " insert-only" : "")))}).");
            Console.WriteLine($"Start one worker per node: pgmm run --node {options.Nodes[0].Name}");
            return 0;
        }
        catch (PrerequisiteException e)
        {
            throw new CliException(e.Message);
        }
    }
}
