using PgMultiMaster.Configuration;
using PgMultiMaster.Membership;
using PgMultiMaster.Setup;
using PgMultiMaster.Topology;

namespace PgMultiMaster.Cli.Commands;

/// <summary>
/// <c>pgmm node add NAME --from SOURCE [--connection-string CS] [--write-config]</c>: a node with the schema only joins
/// the running cluster (<see cref="NodeJoin"/>), then the command says, or writes, the configuration with it. The other
/// workers start their links to it when restarted with that configuration; the new node's worker starts its own.
/// </summary>
internal static class NodeAddCommand
{
    public sealed record Settings(string Name, string From, string? ConnectionString, bool WriteConfig, int Jobs, string NonEmpty, int TimeoutSeconds);

    public static async Task<int> RunAsync(CliConfiguration configuration, Settings settings, CancellationToken ct)
    {
        var options = configuration.LoadOptions(requireNode: false);
        // The node may be listed already (its connection string in the file) or given here.
        var listed = options.Nodes.FirstOrDefault(n => n.Name == settings.Name);
        var joining = listed ?? new NodeOptions { Name = settings.Name, ConnectionString = settings.ConnectionString ?? "" };
        if (listed is not null && settings.ConnectionString is not null && settings.ConnectionString != listed.ConnectionString)
            throw new CliException($"node add {settings.Name}: the configuration lists it with another connection string; give --connection-string or list it, not both.");
        if (joining.ConnectionString.Length == 0)
            throw new CliException($"node add {settings.Name}: give --connection-string, or list the node in PgMultiMaster:Nodes first.");
        options.Nodes.RemoveAll(n => n.Name == settings.Name);
        if (options.Nodes.All(n => n.Name != settings.From))
            throw new CliException($"node add {settings.Name}: --from {settings.From}: no node of that name in PgMultiMaster:Nodes " +
                                   $"({string.Join(", ", options.Nodes.Select(n => n.Name))}).");
        var nameErrors = OptionsValidator.Validate(new PgMultiMasterOptions { Cluster = options.Cluster, Nodes = [.. options.Nodes, joining], Tables = options.Tables }, requireNode: false);
        if (nameErrors.Count > 0) throw new CliException(string.Join(Environment.NewLine, nameErrors));

        using var loggers = Logging.Console();
        var copy = new CopySettings(settings.Jobs, options.Apply.ReplicaRole, TimeSpan.FromSeconds(2), Console.WriteLine);
        var join = new NodeJoin(new ClusterTopology(options), joining, settings.From, copy, Enum.Parse<NonEmptyTables>(settings.NonEmpty, ignoreCase: true),
            TimeSpan.FromSeconds(settings.TimeoutSeconds), loggers.CreateLogger("pgmm.node"), TimeProvider.System);
        var started = TimeProvider.System.GetTimestamp();
        CopyProgress? copied;
        try
        {
            copied = await join.JoinAsync(ct);
        }
        catch (PrerequisiteException e)
        {
            throw new CliException(e.Message);
        }
        var took = TimeProvider.System.GetElapsedTime(started);
        Console.WriteLine(copied is null
            ? $"Node '{settings.Name}' had already joined cluster '{options.Cluster}' from '{settings.From}'."
            : $"Node '{settings.Name}' joined cluster '{options.Cluster}' in {took.TotalSeconds:0.0} s: copied {copied.Rows:N0} rows, " +
              $"{CopyProgress.Megabytes(copied.Bytes)} from '{settings.From}' in {copied.Elapsed.TotalSeconds:0.0} s.");

        var path = ConfigFile.PathOf(configuration);
        var others = string.Join(", ", options.Nodes.Select(n => n.Name));
        if (listed is not null)
            Console.WriteLine($"{path} already lists '{settings.Name}'.");
        else if (settings.WriteConfig && SettingsFile.AddNode(await File.ReadAllTextAsync(path, ct), settings.Name, joining.ConnectionString) is { } text)
        {
            await ConfigFile.WriteAsync(path, text, ct);
            Console.WriteLine($"Wrote {path}: PgMultiMaster:Nodes now lists '{settings.Name}'.");
        }
        else
            Console.WriteLine($"Now add '{settings.Name}' to the configuration ({path}, or add --write-config): " +
                              $"PgMultiMaster:Nodes gets {{ \"Name\": \"{settings.Name}\", \"ConnectionString\": \"…\" }}.");
        Console.WriteLine($"Then start the worker of '{settings.Name}' (pgmm run --node {settings.Name}) and restart the workers of {others} one at a time " +
                          $"with that configuration: each then starts its link to '{settings.Name}', whose slot keeps what it has to send until then.");
        return 0;
    }
}
