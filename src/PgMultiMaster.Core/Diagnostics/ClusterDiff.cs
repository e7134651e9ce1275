using Npgsql;
using PgMultiMaster.Sql;
using PgMultiMaster.Topology;

namespace PgMultiMaster.Diagnostics;

/// <summary>Checksums and definitions of every replicated table on every node.</summary>
public sealed record ClusterDiff(IReadOnlyList<string> Nodes, IReadOnlyList<ClusterDiff.TableRow> Tables)
{
    /// <param name="SchemaDifferences">How the table's definition differs between nodes (<see cref="TableDefinition.Differences"/>).</param>
    public sealed record TableRow(string Table, IReadOnlyList<TableChecksum?> PerNode, IReadOnlyList<string>? SchemaDifferences = null)
    {
        public bool SchemaMatches => SchemaDifferences is null or { Count: 0 };

        public bool Matches => SchemaMatches && PerNode.All(c => c is not null) && PerNode.Select(c => (c!.Rows, c.Hash)).Distinct().Count() == 1;
    }

    public bool AllMatch => Tables.All(t => t.Matches);

    /// <param name="only">Only this table (schema.table), or every replicated table when null.</param>
    public static async Task<ClusterDiff> ComputeAsync(ClusterTopology topology, CancellationToken ct, string? only = null)
    {
        var nodes = topology.Options.Nodes;
        var tables = (await ReplicatedTablesAsync(topology, ct).ConfigureAwait(false))
            .Where(t => only is null || $"{t.Schema}.{t.Table}" == only).ToList();
        var sums = new Dictionary<(string Node, string Schema, string Table), TableChecksum>();
        var definitions = new Dictionary<(string Node, string Schema, string Table), TableDefinition>();
        foreach (var node in nodes)
        {
            await using var conn = await ConnectionStrings.OpenAdminAsync(node.ConnectionString, "pgmm diff", ct).ConfigureAwait(false);
            foreach (var (schema, table) in tables)
            {
                // Missing on this node: shown as a mismatch.
                if (await TableDefinition.LoadAsync(conn, schema, table, ct).ConfigureAwait(false) is not { } definition) continue;
                definitions[(node.Name, schema, table)] = definition;
                sums[(node.Name, schema, table)] = await TableChecksum.ComputeAsync(conn, schema, table, ct).ConfigureAwait(false);
            }
        }
        var names = nodes.Select(n => n.Name).ToList();
        var rows = tables.Select(t => new TableRow($"{t.Item1}.{t.Item2}",
            nodes.Select(n => sums.GetValueOrDefault((n.Name, t.Item1, t.Item2))).ToList(),
            TableDefinition.Differences(names, nodes.Select(n => definitions.GetValueOrDefault((n.Name, t.Item1, t.Item2))).ToList()))).ToList();
        return new ClusterDiff(names, rows);
    }

    /// <summary>Every table published on any node (a table missing on some node shows as a difference there), sorted.</summary>
    public static async Task<IReadOnlyList<(string Schema, string Table)>> ReplicatedTablesAsync(ClusterTopology topology, CancellationToken ct)
    {
        var tables = new SortedSet<(string, string)>();
        foreach (var node in topology.Options.Nodes)
        {
            await using var conn = await ConnectionStrings.OpenAdminAsync(node.ConnectionString, "pgmm diff", ct).ConfigureAwait(false);
            await using var cmd = new NpgsqlCommand("SELECT schemaname::text, tablename::text FROM pg_catalog.pg_publication_tables WHERE pubname = ANY($1) AND schemaname <> 'pgmm'", conn);
            cmd.Parameters.Add(new NpgsqlParameter { Value = new[] { topology.Publication, topology.InsertOnlyPublication } });
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false)) tables.Add((r.GetString(0), r.GetString(1)));
        }
        return tables.ToList();
    }

    /// <summary>
    /// A fixed-width table: one row per table, one column per node (rows / first 8 hex digits of the hash); then how the
    /// definitions of tables differ, if they do.
    /// </summary>
    public string Render()
    {
        var headers = new List<string> { "table" };
        headers.AddRange(Nodes);
        headers.Add("match");
        var lines = Tables.Select(t =>
        {
            var cells = new List<string> { t.Table };
            cells.AddRange(t.PerNode.Select(c => c is null ? "(missing)" : $"{c.Rows} rows / {c.Hash[..Math.Min(8, c.Hash.Length)]}"));
            cells.Add(t.Matches ? "yes" : t.SchemaMatches ? "NO" : "NO (schema)");
            return cells;
        }).ToList();
        var widths = headers.Select((h, i) => Math.Max(h.Length, lines.Count == 0 ? 0 : lines.Max(l => l[i].Length))).ToList();
        string Row(IReadOnlyList<string> cells) => string.Join(" | ", cells.Select((c, i) => c.PadRight(widths[i]))).TrimEnd();
        var sb = new System.Text.StringBuilder();
        sb.AppendLine(Row(headers));
        sb.AppendLine(string.Join("-+-", widths.Select(w => new string('-', w))));
        foreach (var l in lines) sb.AppendLine(Row(l));
        foreach (var t in Tables.Where(t => !t.SchemaMatches))
        {
            sb.AppendLine().AppendLine($"{t.Table}: the definition differs between nodes");
            foreach (var difference in t.SchemaDifferences!) sb.AppendLine("  " + difference);
        }
        return sb.ToString();
    }
}
