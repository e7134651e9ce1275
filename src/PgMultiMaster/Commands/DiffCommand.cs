using PgMultiMaster.Diagnostics;
using PgMultiMaster.Topology;

namespace PgMultiMaster.Cli.Commands;

internal static class DiffCommand
{
    public static async Task<int> RunAsync(CliConfiguration configuration, CancellationToken ct)
    {
        var diff = await ClusterDiff.ComputeAsync(new ClusterTopology(configuration.LoadOptions(requireNode: false)), ct);
        Console.Write(diff.Render());
        Console.WriteLine(diff.AllMatch ? $"All {diff.Nodes.Count} nodes match." : "The nodes differ.");
        return diff.AllMatch ? 0 : 1;
    }
}
