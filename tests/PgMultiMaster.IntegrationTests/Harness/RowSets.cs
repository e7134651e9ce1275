using Npgsql;

namespace PgMultiMaster.IntegrationTests.Harness;

/// <summary>
/// The harness's own convergence check, in plain SQL on superuser connections: every replicated table holds the same
/// rows on every node. Independent of the product's <c>pgmm diff</c> checksums on purpose — a bug there (a column
/// left out, a hash that ignores order or NULLs) would otherwise pass every convergence test it is meant to judge.
/// </summary>
public static class RowSets
{
    /// <summary>
    /// Per table: row count and the md5 of every row as jsonb text (keys sorted, so column order on disk does not
    /// matter), sorted bytewise. The tables are those any node publishes for the mesh's cluster.
    /// </summary>
    public static Task AssertSameAsync(Mesh mesh) =>
        AssertSameAsync([.. mesh.NodeNames.Select(n => (n, mesh.AdminConnectionString(n)))], mesh.Topology);

    /// <summary>The same check on any nodes, given a superuser connection string each (the demo's kept servers, say).</summary>
    public static async Task AssertSameAsync(IReadOnlyList<(string Node, string ConnectionString)> nodes, PgMultiMaster.Topology.ClusterTopology topology)
    {
        var tables = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var (_, connectionString) in nodes)
        {
            await using var conn = await Mesh.OpenAsync(connectionString, default);
            await using var cmd = new NpgsqlCommand(
                "SELECT format('%I.%I', schemaname, tablename) FROM pg_publication_tables WHERE pubname = ANY($1) AND schemaname <> 'pgmm'", conn);
            cmd.Parameters.Add(new NpgsqlParameter { Value = new[] { topology.Publication, topology.InsertOnlyPublication } });
            await using var r = await cmd.ExecuteReaderAsync();
            while (await r.ReadAsync()) tables.Add(r.GetString(0));
        }
        Assert.NotEmpty(tables);

        var differences = new List<string>();
        foreach (var table in tables)
        {
            var perNode = new List<(string Node, string Rows)>();
            foreach (var (node, connectionString) in nodes)
            {
                await using var conn = await Mesh.OpenAsync(connectionString, default);
                await using var cmd = new NpgsqlCommand(
                    $"""
                    SELECT count(*) || ' rows, md5 ' || md5(coalesce(string_agg(row, E'\n' ORDER BY row COLLATE "C"), ''))
                    FROM (SELECT to_jsonb(t)::text AS row FROM {table} t) rows
                    """, conn);
                try { perNode.Add((node, (string)(await cmd.ExecuteScalarAsync())!)); }
                catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable) { perNode.Add((node, "no such table")); }
            }
            if (perNode.Select(p => p.Rows).Distinct().Count() > 1)
                differences.Add($"{table}: " + string.Join("; ", perNode.Select(p => $"{p.Node} {p.Rows}")));
        }
        Assert.True(differences.Count == 0, "nodes hold different rows (harness check):\n" + string.Join('\n', differences));
    }
}
