using Npgsql;
using PgMultiMaster.Configuration;
using PgMultiMaster.Sql;
using PgMultiMaster.Topology;

namespace PgMultiMaster.Setup;

/// <summary>A table PgMultiMaster replicates, as resolved from the configured names and patterns.</summary>
public sealed record ReplicatedTable(string Schema, string Name, bool InsertOnly)
{
    public string QualifiedName => $"{Schema}.{Name}";
    public string Quoted => Quote.Table(Schema, Name);
}

/// <summary>
/// Checks every node before <c>pgmm init</c> changes anything: server settings, the role's rights (<see cref="RightsCheck"/>), and that the configured
/// tables exist everywhere with the same columns and a way to find their rows. Each problem names the node and the
/// setting or table.
/// </summary>
public static class ClusterCheck
{
    public const int MinimumServerVersion = 140000;

    /// <param name="Warnings">What is at risk but does not stop init (e.g. key sequences, <see cref="SequenceCheck"/>).</param>
    public sealed record Result(IReadOnlyList<string> Problems, IReadOnlyList<ReplicatedTable> Tables, IReadOnlyList<string>? Warnings = null);

    public static async Task<Result> RunAsync(ClusterTopology topology, CancellationToken ct)
    {
        var options = topology.Options;
        var problems = new List<string>();
        var catalogs = new Dictionary<string, NodeCatalog>();

        foreach (var node in options.Nodes)
        {
            try
            {
                await using var conn = await ConnectionStrings.OpenAdminAsync(node.ConnectionString, "pgmm check", ct).ConfigureAwait(false);
                var catalog = await NodeCatalog.ReadAsync(conn, ct).ConfigureAwait(false);
                catalogs[node.Name] = catalog;
                problems.AddRange(CheckSettings(topology, node.Name, catalog));
                if (await DdlSetup.MissingEventTriggersAsync(conn, node, options, ct).ConfigureAwait(false) is { } ddl) problems.Add(ddl);
            }
            catch (PostgresException e)
            {
                problems.Add($"node '{node.Name}': reading its catalog failed: {e.MessageText} ({e.SqlState})");
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException)
            {
                problems.Add($"node '{node.Name}': cannot connect: {ConnectionErrors.Describe(e)}");
            }
        }
        if (catalogs.Count < options.Nodes.Count)
            return new Result(problems, []);
        problems.AddRange(SharedServers(catalogs));

        var tables = ResolveTables(options, catalogs, problems);
        var replicated = tables.Select(t => (t.Schema, t.Name)).ToHashSet();
        foreach (var (node, catalog) in catalogs)
            problems.AddRange(RightsCheck.Problems(node, catalog, options, catalog.Tables.Where(t => replicated.Contains((t.Schema, t.Name)))));
        if (problems.Count == 0)
        {
            var names = tables.Select(t => t.QualifiedName).ToHashSet();
            var insertOnly = tables.Where(t => t.InsertOnly).Select(t => t.QualifiedName).ToHashSet();
            foreach (var node in options.Nodes)
            {
                await using var conn = await ConnectionStrings.OpenAdminAsync(node.ConnectionString, "pgmm check", ct).ConfigureAwait(false);
                problems.AddRange(await ConflictRulesCheck.RunAsync(conn, node.Name, options.Conflicts, names, insertOnly, ct).ConfigureAwait(false));
            }
        }
        var warnings = new List<string>();
        if (problems.Count == 0)
        {
            var (sequenceProblems, sequenceWarnings) = SequenceCheck.Run(options.Sequences, await SequenceSetup.ReadAsync(topology, tables, "pgmm check", ct).ConfigureAwait(false));
            problems.AddRange(sequenceProblems);
            warnings.AddRange(sequenceWarnings);
        }
        return new Result(problems.Distinct().ToList(), tables, warnings);
    }

    private static IEnumerable<string> CheckSettings(ClusterTopology topology, string node, NodeCatalog c)
    {
        var links = topology.Options.Nodes.Count - 1;
        if (c.ServerVersion < MinimumServerVersion)
            yield return $"node '{node}': PostgreSQL {c.ServerVersion / 10000} is too old; 14 or later is needed (pg_xact_commit_timestamp_origin).";
        if (c.WalLevel != "logical")
            yield return $"node '{node}': wal_level is '{c.WalLevel}'; set wal_level = logical in postgresql.conf and restart the server.";
        if (!c.TrackCommitTimestamp)
            yield return $"node '{node}': track_commit_timestamp is off; set track_commit_timestamp = on and restart the server (conflict detection reads commit timestamps).";
        if (c.Encoding != "UTF8")
            yield return $"node '{node}': database \"{c.Database}\" is encoded {c.Encoding}; PgMultiMaster needs UTF8 databases (text travels between the nodes as UTF-8 and must arrive unchanged).";

        var ours = topology.LinksFrom(node).Select(l => l.SlotName).ToHashSet();
        var others = c.Slots.Count(s => !ours.Contains(s.Name));
        foreach (var slot in c.Slots.Where(s => ours.Contains(s.Name) && (s.Plugin != "pgoutput" || s.Database != c.Database)))
            yield return $"node '{node}': replication slot {slot.Name} already exists for plugin '{slot.Plugin}' in database '{slot.Database}'; " +
                         $"drop it or choose another {PgMultiMasterOptions.SectionName}:Cluster.";
        if (c.ClaimedAs.TryGetValue(topology.Options.Cluster, out var claimed) && claimed != node)
            yield return $"node '{node}': this database is already node '{claimed}' of cluster '{topology.Options.Cluster}'; " +
                         "two nodes point at the same database, or a node was renamed.";
        if (c.MaxReplicationSlots < others + links)
            yield return $"node '{node}': max_replication_slots is {c.MaxReplicationSlots} but {others + links} are needed " +
                         $"({links} for the links from '{node}' + {others} already used by others).";
        if (c.MaxWalSenders < links)
            yield return $"node '{node}': max_wal_senders is {c.MaxWalSenders} but at least {links} are needed (one per link from '{node}').";
    }

    /// <summary>
    /// Two nodes must be two servers: a database listed twice would replicate into itself, and replication origins
    /// belong to a whole server, so two target databases of one server would share the origin of every source (one of
    /// their links then waits forever for the other's, and progress is mixed up).
    /// </summary>
    private static IEnumerable<string> SharedServers(Dictionary<string, NodeCatalog> catalogs)
    {
        foreach (var server in catalogs.GroupBy(c => c.Value.SystemId.System).Where(g => g.Count() > 1))
        {
            var nodes = server.ToList();
            for (var i = 0; i < nodes.Count; i++)
                for (var j = i + 1; j < nodes.Count; j++)
                    yield return nodes[i].Value.SystemId == nodes[j].Value.SystemId
                        ? $"nodes '{nodes[i].Key}' and '{nodes[j].Key}' are the same database (server {server.Key}, database \"{nodes[i].Value.Database}\"): list each database once."
                        : $"nodes '{nodes[i].Key}' and '{nodes[j].Key}' are databases of one server (system identifier {server.Key}): replication origins " +
                          "belong to a whole server, so their links would share them; give each node a server of its own.";
        }
    }

    private static List<ReplicatedTable> ResolveTables(PgMultiMasterOptions options, Dictionary<string, NodeCatalog> catalogs, List<string> problems)
    {
        var section = PgMultiMasterOptions.SectionName;
        var patterns = options.Tables.Select((t, i) => (Key: $"{section}:Tables:{i}", Pattern: new TablePattern(t))).ToList();
        var insertOnly = options.InsertOnlyTables.Select((t, i) => (Key: $"{section}:InsertOnlyTables:{i}", Pattern: new TablePattern(t))).ToList();

        // Every table that any pattern matches on any node.
        var wanted = new SortedDictionary<(string Schema, string Name), bool>();
        foreach (var (key, pattern) in patterns.Concat(insertOnly))
        {
            var matched = false;
            foreach (var t in catalogs.Values.SelectMany(c => c.Tables).Where(t => pattern.Matches(t.Schema, t.Name)))
            {
                matched = true;
                // Changes are published per partition, so a partitioned table replicates through its partitions
                // (which a pattern like public.* matches too); its parent holds no rows of its own.
                if (t.IsPartitioned)
                {
                    if (!pattern.IsWildcard)
                        problems.Add($"{key} '{pattern.Text}' is a partitioned table: list its partitions (e.g. {t.Schema}.{t.Name}_*) instead.");
                    continue;
                }
                wanted[(t.Schema, t.Name)] = insertOnly.Any(p => p.Pattern.Matches(t.Schema, t.Name));
            }
            if (!matched)
                problems.Add($"{key} '{pattern.Text}' matches no table on any node.");
        }

        var result = new List<ReplicatedTable>();
        foreach (var ((schema, name), isInsertOnly) in wanted)
        {
            var table = new ReplicatedTable(schema, name, isInsertOnly);
            var found = catalogs.ToDictionary(c => c.Key, c => c.Value.Tables.FirstOrDefault(t => t.Schema == schema && t.Name == name));
            var missing = found.Where(f => f.Value is null).Select(f => f.Key).ToList();
            if (missing.Count > 0)
            {
                problems.AddRange(missing.Select(n => $"node '{n}': table {table.Quoted} is missing (it exists on {string.Join(", ", found.Where(f => f.Value is not null).Select(f => $"'{f.Key}'"))})."));
                continue;
            }

            var (firstNode, first) = found.First();
            foreach (var (node, other) in found.Skip(1))
            {
                var onlyFirst = first!.Columns.Except(other!.Columns).ToList();
                var onlyOther = other.Columns.Except(first.Columns).ToList();
                if (onlyFirst.Count + onlyOther.Count > 0)
                    problems.Add($"table {table.Quoted}: columns differ between node '{firstNode}' and node '{node}' " +
                                 $"(only on '{firstNode}': {Describe(onlyFirst)}; only on '{node}': {Describe(onlyOther)}).");
            }

            if (!isInsertOnly)
                foreach (var (node, t) in found.Where(f => !f.Value!.HasUsableIdentity))
                    problems.Add($"node '{node}': table {table.Quoted} has neither a primary key nor a usable replica identity: " +
                                 $"add a primary key, set REPLICA IDENTITY FULL, or list it under {section}:InsertOnlyTables.");
            result.Add(table);
        }
        return result;
    }

    private static string Describe(List<string> columns) => columns.Count == 0 ? "none" : string.Join(", ", columns);
}

/// <summary>The cluster does not meet PgMultiMaster's prerequisites; nothing was changed.</summary>
public sealed class PrerequisiteException(IReadOnlyList<string> problems)
    : Exception("The cluster is not ready for PgMultiMaster; nothing was changed:" + Environment.NewLine
                + string.Join(Environment.NewLine, problems.Select(p => "  - " + p)))
{
    public IReadOnlyList<string> Problems { get; } = problems;
}
