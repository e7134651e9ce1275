using PgMultiMaster.Membership;
using PgMultiMaster.Setup;
using PgMultiMaster.Topology;

namespace PgMultiMaster.Cli.Commands;

internal static class InitCommand
{
    /// <summary><c>--seed-from</c> and how its copies run.</summary>
    public sealed record Seeding(string? Node, int Jobs, string NonEmpty);

    public static async Task<int> RunAsync(CliConfiguration configuration, Seeding seeding, CancellationToken ct)
    {
        var options = configuration.LoadOptions(requireNode: false);
        using var loggers = Logging.Console();
        var logger = loggers.CreateLogger("pgmm.init");
        var topology = new ClusterTopology(options);
        if (seeding.Node is { } seed && options.Nodes.All(n => n.Name != seed))
            throw new CliException($"--seed-from {seed}: no node of that name in PgMultiMaster:Nodes ({string.Join(", ", options.Nodes.Select(n => n.Name))}).", 2);
        try
        {
            IReadOnlyList<ReplicatedTable> tables;
            if (seeding.Node is null)
                tables = await new ClusterInitializer(topology, logger).InitAsync(ct);
            else
            {
                var copy = new CopySettings(seeding.Jobs, options.Apply.ReplicaRole, TimeSpan.FromSeconds(2), Console.WriteLine);
                var nonEmpty = Enum.Parse<NonEmptyTables>(seeding.NonEmpty, ignoreCase: true);
                var (seeded, copies) = await new SeedAdoption(topology, copy, nonEmpty, logger, TimeProvider.System).InitAsync(seeding.Node, ct);
                tables = seeded;
                foreach (var c in copies)
                    Console.WriteLine($"Copied {c.What}: {c.Rows:N0} rows, {CopyProgress.Megabytes(c.Bytes)} in {c.Elapsed.TotalSeconds:0.0} s " +
                                      $"({c.Rows / Math.Max(c.Elapsed.TotalSeconds, 0.001):N0} rows/s, {CopyProgress.Megabytes((long)(c.Bytes / Math.Max(c.Elapsed.TotalSeconds, 0.001)))}/s).");
            }
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
