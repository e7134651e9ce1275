using PgMultiMaster.Setup;
using PgMultiMaster.Topology;

namespace PgMultiMaster.Cli.Commands;

internal static class CheckCommand
{
    public static async Task<int> RunAsync(CliConfiguration configuration, CancellationToken ct)
    {
        var options = configuration.LoadOptions(requireNode: false);
        var result = await ClusterCheck.RunAsync(new ClusterTopology(options), ct);
        if (result.Problems.Count > 0)
            throw new CliException(new PrerequisiteException(result.Problems).Message);
        Console.WriteLine($"All {options.Nodes.Count} nodes meet the prerequisites; {result.Tables.Count} tables to replicate:");
        foreach (var t in result.Tables)
            Console.WriteLine($"  {t.Quoted}{(t.InsertOnly ? " (insert-only)" : "")}");
        foreach (var w in result.Warnings ?? [])
            Console.WriteLine($"warning: {w}");
        return 0;
    }
}
