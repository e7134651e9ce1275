using PgMultiMaster.Diagnostics;
using PgMultiMaster.Repair;
using PgMultiMaster.Topology;

namespace PgMultiMaster.Cli.Commands;

/// <summary><c>pgmm repair --table T --from NODE [--dry-run]</c>: the row diff of one table, then every other node made to match NODE.</summary>
internal static class RepairCommand
{
    public static async Task<int> RunAsync(CliConfiguration configuration, string? table, string? from, bool dryRun, CancellationToken ct)
    {
        if (table is null || from is null)
            throw new CliException($"give {(table is null ? "--table TABLE" : "")}{(table is null && from is null ? " and " : "")}{(from is null ? "--from NODE" : "")}.");
        var topology = new ClusterTopology(configuration.LoadOptions(requireNode: false));
        if (topology.Options.Nodes.All(n => n.Name != from))
            throw new CliException($"--from {from}: no such node (one of {string.Join(", ", topology.Options.Nodes.Select(n => n.Name))}).");
        var (schema, name) = (await DiffCommand.ReplicatedTable(topology, table, ct))!.Value;

        var report = await RowDiff.ComputeAsync(topology, [(schema, name)], new RowDiff.Settings(), ct);
        var diff = report.Tables[0];
        if (diff.Problem is not null) throw new CliException($"{diff.Table} cannot be repaired: {diff.Problem}.", 1);
        if (diff.KeyColumns.Count == 0 && diff.Differences.Count > 0)
            throw new CliException($"{diff.Table} has no key (REPLICA IDENTITY FULL without a primary key): repair matches rows by key; " +
                                   "pgmm diff --rows lists the rows that differ.", 1);
        var plan = RepairPlan.For(report.Nodes, diff.Differences, from);
        if (plan.Count == 0)
        {
            Console.WriteLine($"{diff.Table}: every node already matches {from}; nothing to repair.");
            return 0;
        }
        if (dryRun)
        {
            foreach (var step in plan) Console.WriteLine($"would {step.Action.Name()} {step.Key.Describe(diff.KeyColumns)} on {step.Node}");
            Console.WriteLine($"{diff.Table}: would make {Summary(plan.Select(s => (RepairAction?)s.Action))} to match {from}; changed nothing (--dry-run).");
            return 0;
        }
        var done = await RowRepair.ApplyAsync(topology, schema, name, from, plan, d => Console.WriteLine(d.Action is { } a
            ? $"{a.Name()} {d.Step.Key.Describe(diff.KeyColumns)} on {d.Step.Node}"
            : $"skipped {d.Step.Key.Describe(diff.KeyColumns)} on {d.Step.Node}: it already matched {from}"), ct);
        Console.WriteLine($"{diff.Table}: made {Summary(done.Select(d => d.Action))} to match {from} (recorded in pgmm.repair_log on each node).");
        return 0;
    }

    private static string Summary(IEnumerable<RepairAction?> actions)
    {
        var list = actions.Where(a => a is not null).Select(a => a!.Value).ToList();
        var nodes = list.Count;
        var parts = Enum.GetValues<RepairAction>().Select(a => (a, n: list.Count(x => x == a))).Where(x => x.n > 0).Select(x => $"{x.n} {x.a.Name()}{(x.n == 1 ? "" : "s")}");
        return nodes == 0 ? "no changes" : $"{nodes} {(nodes == 1 ? "change" : "changes")} ({string.Join(", ", parts)})";
    }
}
