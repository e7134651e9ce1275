using PgMultiMaster.Diagnostics;
using PgMultiMaster.Topology;

namespace PgMultiMaster.Cli.Commands;

internal static class DiffCommand
{
    /// <param name="rows">List the keys whose rows differ (<see cref="RowDiff"/>) instead of counts and checksums.</param>
    /// <param name="table">Only this table (schema.table; a name without a schema is in public).</param>
    public static async Task<int> RunAsync(CliConfiguration configuration, bool rows, string? table, CancellationToken ct)
    {
        var topology = new ClusterTopology(configuration.LoadOptions(requireNode: false));
        var only = table is null ? null : await ReplicatedTable(topology, table, ct);
        if (rows)
        {
            var tables = only is null ? await ClusterDiff.ReplicatedTablesAsync(topology, ct) : [only.Value];
            var report = await RowDiff.ComputeAsync(topology, tables, new RowDiff.Settings(), ct);
            Console.Write(report.Render());
            return report.AllMatch ? 0 : 1;
        }
        var diff = await ClusterDiff.ComputeAsync(topology, ct, only is { } t ? $"{t.Schema}.{t.Table}" : null);
        Console.Write(diff.Render());
        Console.WriteLine(diff.AllMatch ? $"All {diff.Nodes.Count} nodes match." : "The nodes differ.");
        return diff.AllMatch ? 0 : 1;
    }

    /// <summary>The replicated table <paramref name="given"/> names, or a usage error (exit 2) that lists them.</summary>
    public static async Task<(string Schema, string Table)?> ReplicatedTable(ClusterTopology topology, string given, CancellationToken ct)
    {
        var name = given.Contains('.', StringComparison.Ordinal) ? given : "public." + given;
        var tables = await ClusterDiff.ReplicatedTablesAsync(topology, ct);
        foreach (var t in tables)
            if ($"{t.Schema}.{t.Table}" == name) return t;
        throw new CliException($"--table {given}: not a replicated table (one of {string.Join(", ", tables.Select(t => $"{t.Schema}.{t.Table}"))}).");
    }
}
