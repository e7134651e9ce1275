using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using PgMultiMaster.Cli.Commands;
using PgMultiMaster.Conflicts;
using PgMultiMaster.Configuration;

namespace PgMultiMaster.Cli.CommandLine;

/// <summary>
/// pgmm's verbs, their options and help (System.CommandLine). Every verb reads the configuration the same way
/// (<see cref="CliConfiguration"/>); a usage error (an unknown verb or option, a missing or unreadable value) exits 2
/// with the nearest valid name before anything runs.
/// </summary>
internal static class PgmmCommandLine
{
    public const int UsageError = 2;

    private static readonly ParserConfiguration Parsing = new()
    {
        // pgmm has no one-letter options to bundle, and no "@file" arguments: a value starting with @ is a value.
        EnablePosixBundling = false,
        ResponseFileTokenReplacer = null,
    };

    public static RootCommand Build()
    {
        // Named here, not after the executable: "dotnet pgmm.dll" and the unit tests run it under other names.
        var root = new RootCommand("PgMultiMaster — multi-master replication for PostgreSQL.")
        {
            Options.Config(), Options.Node(), Options.Cluster(),
            Verb("init", "Check prerequisites, then create the pgmm schema, publications, slots and origins on every node. " +
                         "With --seed-from, copy that node's tables into the others while it stays in use.",
                (r, config, ct) => InitCommand.RunAsync(config, new InitCommand.Seeding(r.GetValue<string>("--seed-from"), r.GetValue<int>("--copy-jobs"),
                    r.GetValue<string>("--non-empty")!), ct),
                Options.Text("--seed-from", "NODE", "The node that holds the data: every other node receives a consistent copy of its replicated tables " +
                                                    "(the application may keep writing on it; on the others once init has finished)."),
                Options.Number("--copy-jobs", "N", "Tables copied at the same time into each node.", 4, 1, 64),
                Options.Choice("--non-empty", "refuse|truncate|keep", "A table of another node that already holds rows: refuse (the default), " +
                                                                     "truncate it, or keep it as it is (it already matches the seed).", "refuse", "refuse", "truncate", "keep")),
            Verb("check", "Only check prerequisites and tables on every node; change nothing.",
                (_, config, ct) => CheckCommand.RunAsync(config, ct)),
            Verb("run", "Run the worker beside the node given by --node (Ctrl-C or SIGTERM stops it cleanly).",
                (_, config, _) => RunCommand.RunAsync(config)),
            Verb("diff", "Compare every replicated table across the nodes (row counts and checksums); exit 1 when they differ.",
                (r, config, ct) => DiffCommand.RunAsync(config, r.GetValue<bool>("--rows"), r.GetValue<string>("--table"), ct),
                Options.Flag("--rows", "List every key whose rows differ, and what each node has (ranges of the key hashed on every node)."),
                Options.Text("--table", "TABLE", "Only this table (schema.table).")),
            Verb("repair", "Make every other node match --from for the rows of --table that differ (see pgmm diff --rows).",
                (r, config, ct) => RepairCommand.RunAsync(config, r.GetValue<string>("--table"), r.GetValue<string>("--from"), r.GetValue<bool>("--dry-run"), ct),
                // Checked by the verb, not marked required: a required option would refuse "pgmm repair --help".
                Options.Text("--table", "TABLE", "The table to repair (schema.table); required."),
                Options.Text("--from", "NODE", "The node whose rows are right: the others are made to match it; required."),
                Options.Flag("--dry-run", "Only print what would change; change nothing.")),
            Verb("status", "Every node's worker and links (state, lag, WAL retained, errors); exit 1 when a link is down, backing off " +
                           "or beyond Monitoring:MaxLag / MaxLagBytes / MaxWalRetainedBytes.",
                (r, config, ct) => StatusCommand.RunAsync(config, r.GetValue<bool>("--json"), ct),
                Options.Flag("--json", "Print the status as JSON.")),
            Verb("conflicts", "Recent conflicts and how they were resolved, from every node's pgmm.conflict_log, newest first.",
                (r, config, ct) => ConflictsCommand.RunAsync(config, new ConflictsCommand.Filter(r.GetValue<string>("--on"),
                    r.GetValue<string>("--table"), r.GetValue<string>("--type"), r.GetValue<string>("--since"), r.GetValue<int>("--limit")), ct),
                Options.On(),
                Options.Text("--table", "TABLE", "Only this table (schema.table)."),
                Options.Text("--type", "TYPE", $"Only this conflict type: {string.Join(", ", ConflictTypeNames.All)}."),
                Options.Text("--since", "WHEN", "Only conflicts since: a duration (90s, 30m, 2h, 1d) or a timestamp."),
                Options.Number("--limit", "N", "At most this many conflicts, newest first.", 50, 1, int.MaxValue)),
            DeadLetter(),
            Node(),
            Ddl(),
            Verb("uninstall", "Drop the slots, origins and publications of the cluster (stop the workers first).",
                (r, config, ct) => UninstallCommand.RunAsync(config, r.GetValue<bool>("--yes"), ct),
                Options.Flag("--yes", "Really drop them: changes not yet replicated are lost.")),
            Verb("demo", "Start three local PostgreSQL servers, replicate concurrent writes, print checksums. Needs no configuration.",
                (r, _, ct) => DemoCommand.RunAsync(new DemoCommand.Settings(r.GetValue<int>("--seconds"), r.GetValue<int>("--port"),
                    r.GetValue<bool>("--keep"), r.GetValue<string>("--dir"), r.GetValue<bool>("--fail-node")), ct),
                Options.Number("--seconds", "N", "How long to write on all three nodes.", 10, 1, int.MaxValue),
                Options.Number("--port", "PORT", "Where the first worker serves the dashboard (0: a free port).", 9478, 0, 65535),
                Options.Flag("--keep", "Keep the servers running at the end (the folder stays too)."),
                Options.Text("--dir", "PATH", "The folder to create for the servers (it must not exist yet; default: a new one under /tmp)."),
                Options.Flag("--fail-node", "Write through one multi-host connection string; stop north's server a third into the writing, keep " +
                                            "it down for another third, start it again; exit 0 only if the writes went on and every node matches.")),
            Help(),
        };
        root.HelpName = "pgmm";
        var help = root.Options.OfType<HelpOption>().Single();
        help.Action = new HelpText();
        return root;
    }

    /// <summary>The arguments parsed, configuration overrides taken out, and every usage error found.</summary>
    public sealed record Invocation(ParseResult Result, IReadOnlyList<KeyValuePair<string, string?>> Overrides, IReadOnlyList<string> Errors)
    {
        public Verb? Verb => Result.CommandResult.Command as Verb;

        /// <summary>What messages start with: <c>pgmm status</c>, or <c>pgmm</c> before a verb is known.</summary>
        public string Prefix => Verb?.Prefix ?? "pgmm";

        /// <summary>The configuration the verb reads: --node and --cluster are the keys they name, given last so they win.</summary>
        public CliConfiguration Configuration
        {
            get
            {
                var overrides = Overrides.ToList();
                if (Result.GetValue<string>("--node") is { } node) overrides.Add(new($"{PgMultiMasterOptions.SectionName}:Node", node));
                if (Result.GetValue<string>("--cluster") is { } cluster) overrides.Add(new($"{PgMultiMasterOptions.SectionName}:Cluster", cluster));
                return new CliConfiguration(Result.GetValue<string>("--config"), overrides);
            }
        }
    }

    public static Invocation Parse(IReadOnlyList<string> args)
    {
        var root = Build();
        var split = ConfigurationOverrides.Take(args, OptionNames(root));
        var result = root.Parse(split.Arguments, Parsing);
        return new Invocation(result, split.Overrides, [.. split.Errors, .. UsageErrors.Describe(result)]);
    }

    /// <summary>Parses, then shows help, reports usage errors (exit 2), or runs the verb and maps its errors to exit codes.</summary>
    public static async Task<int> RunAsync(IReadOnlyList<string> args, TextWriter output, TextWriter error, CancellationToken ct)
    {
        // Plain "pgmm" shows what there is, as before.
        var invocation = Parse(args.Count == 0 ? ["--help"] : args);
        if (invocation.Errors.Count > 0)
        {
            foreach (var e in invocation.Errors) await error.WriteLineAsync($"{invocation.Prefix}: {e}");
            await error.WriteLineAsync($"See '{invocation.Prefix} --help'.");
            return UsageError;
        }
        var result = invocation.Result;
        // --help, --version. (A ParseErrorAction stands for errors pgmm does not count, such as dead-letter without an action.)
        if (result.Action is not null and not ParseErrorAction)
            return await result.InvokeAsync(new InvocationConfiguration { Output = output, Error = error, ProcessTerminationTimeout = null }, ct);
        if (invocation.Verb is { Name: "help" })
            return await RunAsync([.. result.GetValue<string[]>("verb") ?? [], "--help"], output, error, ct);

        var verb = invocation.Verb!;
        try
        {
            return await verb.Run!(result, invocation.Configuration, ct);
        }
        catch (CliException e)
        {
            await error.WriteLineAsync($"{verb.Prefix}: {e.Message}");
            return e.ExitCode;
        }
        catch (Exception e) when (e is Npgsql.NpgsqlException or TimeoutException or IOException)
        {
            await error.WriteLineAsync($"{verb.Prefix}: {e.Message}");
            return 1;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            await error.WriteLineAsync($"{verb.Prefix}: cancelled");
            return 130;
        }
    }

    private static Verb Verb(string name, string description, Func<ParseResult, CliConfiguration, CancellationToken, Task<int>> run, params Option[] options)
    {
        var verb = new Verb(name, description) { Run = run };
        foreach (var option in options) verb.Add(option);
        return verb;
    }

    /// <summary><c>dead-letter list|show|retry|discard</c>; without an action it lists, as before.</summary>
    private static Verb DeadLetter()
    {
        Func<ParseResult, CliConfiguration, CancellationToken, Task<int>> Run(string action) => (r, config, ct) =>
            DeadLetterCommand.RunAsync(action, config, new DeadLetterCommand.Target(r.GetValue<string>("--on"), r.GetValue<long?>("--id"),
                r.GetValue<bool>("--all"), r.GetValue<bool>("--wait")), ct);
        static Option Id() => new Option<long?>("--id") { HelpName = "N", Description = "The parked change with this id (ids are per node: give --on too)." };
        static Option All(string what) => Options.Flag("--all", $"{what} every parked change (of --on's node, or of every node).");
        var deadLetter = Verb("dead-letter", "Parked changes: list them, show one, retry (applies even if the conflict remains), discard. " +
                                             "Without an action: list.", Run("list"), Options.On());
        deadLetter.Add(Verb("list", "List the parked changes of every node (or --on's).", Run("list"), Options.On()));
        deadLetter.Add(Verb("show", "Show one parked change in full: --on NODE --id N.", Run("show"), Options.On(), Id()));
        deadLetter.Add(Verb("retry", "Apply parked changes again, even if their conflict remains: --id N (with --on NODE) or --all.", Run("retry"),
            Options.On(), Id(), All("Retry"), Options.Flag("--wait", "Wait until the workers have applied them; exit 1 if one fails again.")));
        deadLetter.Add(Verb("discard", "Delete parked changes: --id N (with --on NODE) or --all.", Run("discard"), Options.On(), Id(), All("Discard")));
        return deadLetter;
    }

    /// <summary>
    /// <c>node remove NAME</c>: the cluster's membership. A group of actions, so that <c>node add</c> joins it the same way.
    /// </summary>
    private static Verb Node()
    {
        var node = new Verb("node", "Change the cluster's membership: add a node while every node writes, or remove one (its slots and origins on every other node).");
        var add = Verb("add", "Add a node that holds the schema only: slots toward it on every node, a consistent copy of --from's tables, then its own slots; " +
                              "print (or --write-config) the configuration with it. Then start its worker and restart the others.",
            (r, config, ct) => NodeAddCommand.RunAsync(config, new NodeAddCommand.Settings(r.GetValue<string>("NAME")!, r.GetValue<string>("--from") ?? "",
                r.GetValue<string>("--connection-string"), r.GetValue<bool>("--write-config"), r.GetValue<int>("--copy-jobs"), r.GetValue<string>("--non-empty")!,
                r.GetValue<int>("--timeout")), ct),
            Options.Text("--from", "NODE", "The node whose data the new node receives (required)."),
            Options.Text("--connection-string", "CS", "How pgmm reaches the new node (unless PgMultiMaster:Nodes lists it already)."),
            Options.Flag("--write-config", "Add the node to the configuration file (other keys and comments stay)."),
            Options.Number("--copy-jobs", "N", "Tables copied at the same time.", 4, 1, 64),
            Options.Choice("--non-empty", "refuse|truncate", "A table of the new node that already holds rows: refuse (the default) or truncate it.", "refuse", "refuse", "truncate"),
            Options.Number("--timeout", "SECONDS", "How long to wait for --from to have applied what each other node wrote before the join.", 300, 1, int.MaxValue));
        add.Add(new Argument<string>("NAME") { Description = "The new node's name." });
        node.Add(add);
        var name = new Argument<string>("NAME") { Description = "The node to remove, as PgMultiMaster:Nodes names it." };
        var remove = Verb("remove", "Remove a node: wait until what it wrote is applied everywhere, then drop its slots and origins on every node " +
                                    "and print (or --write-config) the configuration without it. Restart the other workers afterwards.",
            (r, config, ct) => NodeRemoveCommand.RunAsync(config, new NodeRemoveCommand.Settings(r.GetValue<string>("NAME")!, r.GetValue<bool>("--force"),
                r.GetValue<bool>("--write-config"), r.GetValue<int>("--timeout")), ct),
            Options.Flag("--force", "The node is gone for good: do not wait for its links, nor need it reachable. What it wrote that a node has not applied is lost."),
            Options.Flag("--write-config", "Take the node out of the configuration file (other keys and comments stay)."),
            Options.Number("--timeout", "SECONDS", "How long to wait for the links to drain.", 300, 1, int.MaxValue));
        remove.Add(name);
        node.Add(remove);
        return node;
    }

    /// <summary><c>ddl "STATEMENT" --node NAME</c>: one schema change, run on one node and replicated to the others.</summary>
    private static Verb Ddl()
    {
        var ddl = Verb("ddl", "Run one schema change (CREATE TABLE, ALTER TABLE ... ADD COLUMN, CREATE INDEX ...) on the node given by --node " +
                              "through pgmm.replicate_ddl: every other node applies it at the same place in the change stream.",
            (r, config, ct) => ReplicateDdlCommand.RunAsync(config, r.GetValue<string>("STATEMENT")!, r.GetValue<string>("--role"), ct),
            Options.Text("--role", "ROLE", "Run it as this role (SET ROLE), e.g. the tables' owner; a table it creates is then that role's on every node."));
        ddl.Add(new Argument<string>("STATEMENT") { Description = "The statement, one only." });
        return ddl;
    }

    private static Verb Help()
    {
        var help = new Verb("help", "Show help for pgmm, or for one verb (pgmm help status).");
        help.Add(new Argument<string[]>("verb") { Arity = ArgumentArity.ZeroOrMore, Description = "The verb (and action) to describe." });
        return help;
    }

    /// <summary>Every option name and alias, so that <c>--node:east</c> is not taken for a configuration key.</summary>
    private static HashSet<string> OptionNames(Command command)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        void Walk(Command c)
        {
            foreach (var o in c.Options) { names.Add(o.Name); names.UnionWith(o.Aliases); }
            foreach (var sub in c.Subcommands) Walk(sub);
        }
        Walk(command);
        return names;
    }
}
