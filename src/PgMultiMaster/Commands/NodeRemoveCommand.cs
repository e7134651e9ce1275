using PgMultiMaster.Membership;
using PgMultiMaster.Topology;

namespace PgMultiMaster.Cli.Commands;

/// <summary>
/// <c>pgmm node remove NAME [--force] [--write-config] [--timeout SECONDS]</c>: drains and removes a node (or, forced,
/// removes a node that is gone for good), then says, or writes, the configuration without it. The survivors' workers
/// must then be restarted with that configuration, one at a time (docs/operations.md: Removing a node).
/// </summary>
internal static class NodeRemoveCommand
{
    public sealed record Settings(string Name, bool Force, bool WriteConfig, int TimeoutSeconds);

    public static async Task<int> RunAsync(CliConfiguration configuration, Settings settings, CancellationToken ct)
    {
        var options = configuration.LoadOptions(requireNode: false);
        RemovalPlan plan;
        try
        {
            plan = RemovalPlan.Create(new ClusterTopology(options), settings.Name);
        }
        catch (RemovalRefusedException e)
        {
            throw new CliException(e.Message);
        }
        var name = plan.Node.Name;
        var survivors = string.Join(", ", plan.Survivors.Select(s => s.Name));
        Console.WriteLine(settings.Force
            ? $"Removing node '{name}' without draining it (--force): changes written on '{name}' that a node has not applied yet are lost for that node."
            : $"Removing node '{name}': writes on '{name}' must have stopped; what is written there from now on may not reach {survivors}.");

        using var loggers = Logging.Console();
        NodeRemover.Outcome outcome;
        try
        {
            outcome = await new NodeRemover(plan, loggers.CreateLogger("pgmm.node")).RemoveAsync(settings.Force, TimeSpan.FromSeconds(settings.TimeoutSeconds), ct);
        }
        catch (RemovalFailedException e)
        {
            throw new CliException(e.Message, exitCode: 1);
        }
        foreach (var w in outcome.Warnings) Console.WriteLine($"warning: {w}");
        Console.WriteLine($"Node '{name}' is no longer part of cluster '{options.Cluster}': {survivors} hold no slot or origin for it.");

        var path = ConfigFile.PathOf(configuration);
        if (settings.WriteConfig)
        {
            var edit = await ConfigFile.RewriteAsync(configuration, json => SettingsFile.RemoveNode(json, name), ct);
            Console.WriteLine(edit.Removed.Count > 0
                ? $"Wrote {path}: removed {string.Join(", ", edit.Removed)}."
                : $"{path} does not list node '{name}' (it comes from the environment or the command line): take it out there.");
        }
        else
            Console.WriteLine($"Now take '{name}' out of the configuration ({path}, or add --write-config): PgMultiMaster:Nodes lists {survivors}" +
                              (options.Conflicts.Default.Priority.Contains(name) || options.Conflicts.Tables.Values.Any(t => t.Priority.Contains(name))
                                  ? $", and no Conflicts Priority list names '{name}'." : "."));
        Console.WriteLine($"Then restart the workers of {survivors} one at a time with it; until then their links to '{name}' retry (pgmm status: backing_off)." +
                          (outcome.NodeReached ? $" Stop the worker of '{name}': it has nothing left to do." : ""));
        return 0;
    }
}
