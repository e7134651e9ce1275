using Npgsql;
using PgMultiMaster.Sql;
using PgMultiMaster.Topology;

namespace PgMultiMaster.Diagnostics;

/// <summary>
/// Finds the keys whose rows differ between the nodes without reading every row to the client, the way pg_comparator
/// and pgEdge ACE do: a table whose row count and hash match everywhere is done; otherwise its key space is cut into
/// ranges in key order (boundaries taken on the node with the most rows), each range's count and hash computed on
/// every node at once, and only ranges that differ are cut again, until they are small enough to read and compare
/// key by key. A table without a key is compared by buckets of its rows' hashes, then row by row in differing buckets.
/// Each node is read in one repeatable-read snapshot, so the rounds agree with each other.
/// </summary>
public sealed class RowDiff
{
    /// <param name="LeafRows">A range with at most this many rows on every node is read row by row.</param>
    /// <param name="MaxFanout">At most this many parts per cut.</param>
    public sealed record Settings(int LeafRows = 1000, int MaxFanout = 64);

    // A row's hash: 64 bits of its text. A range's hash is their sum (numeric, so it cannot overflow): order does not
    // matter, so no node sorts for it.
    private const string HashOf = "pg_catalog.hashtextextended({0}, 0)";

    // Rows of a table without a key go into 2^12 buckets by the top bits of their hash.
    private const int BucketShift = 52;

    private readonly IReadOnlyList<Snapshot> _nodes;
    private readonly Settings _settings;

    private RowDiff(IReadOnlyList<Snapshot> nodes, Settings settings)
    {
        _nodes = nodes;
        _settings = settings;
    }

    /// <summary>Compares <paramref name="tables"/> (schema, table) on every node of <paramref name="topology"/>.</summary>
    public static async Task<RowDiffReport> ComputeAsync(ClusterTopology topology, IReadOnlyList<(string Schema, string Table)> tables,
        Settings settings, CancellationToken ct)
    {
        var nodes = new List<Snapshot>();
        try
        {
            foreach (var node in topology.Options.Nodes)
                nodes.Add(await Snapshot.OpenAsync(node.Name, node.ConnectionString, ct).ConfigureAwait(false));
            var diff = new RowDiff(nodes, settings);
            var results = new List<TableRowDiff>();
            foreach (var (schema, table) in tables) results.Add(await diff.TableAsync(schema, table, ct).ConfigureAwait(false));
            return new RowDiffReport(nodes.Select(n => n.Name).ToList(), results);
        }
        finally
        {
            foreach (var n in nodes) await n.DisposeAsync().ConfigureAwait(false);
        }
    }

    private async Task<TableRowDiff> TableAsync(string schema, string table, CancellationToken ct)
    {
        var name = $"{schema}.{table}";
        var shapes = await AllAsync(n => TableShape.LoadAsync(n.Conn, schema, table, ct)).ConfigureAwait(false);
        var none = new long?[_nodes.Count];
        if (shapes.Any(s => s is null))
            return new TableRowDiff(name, [], none, [], $"missing on {string.Join(", ", _nodes.Where((_, i) => shapes[i] is null).Select(n => n.Name))}");
        var shape = shapes[0]!;
        if (shapes.Any(s => !s!.Columns.SequenceEqual(shape.Columns, StringComparer.Ordinal)))
            return new TableRowDiff(name, shape.Key, none, [], "its columns differ between the nodes");
        if (shapes.Any(s => !s!.Key.SequenceEqual(shape.Key, StringComparer.Ordinal)))
            return new TableRowDiff(name, shape.Key, none, [], "its key (replica identity index or primary key) differs between the nodes");

        var whole = await HashAsync(shape, [KeyRange.All], ct).ConfigureAwait(false);
        var rows = whole.Select(h => (long?)h[0].Rows).ToList();
        if (Same(whole, 0)) return new TableRowDiff(name, shape.Key, rows, [], RangesHashed: 1);
        return shape.HasKey
            ? await KeyedAsync(shape, rows, whole, ct).ConfigureAwait(false)
            : await KeylessAsync(shape, rows, ct).ConfigureAwait(false);
    }

    private async Task<TableRowDiff> KeyedAsync(TableShape shape, List<long?> rows, RangeHash[][] whole, CancellationToken ct)
    {
        var differences = new List<(string Path, IReadOnlyList<KeyDifference> Found)>();
        var hashed = 1;
        long fetched = 0;
        var pending = new List<(KeyRange Range, long[] Rows)> { (KeyRange.All, whole.Select(h => h[0].Rows).ToArray()) };
        while (pending.Count > 0)
        {
            var leaves = pending.Where(p => p.Rows.Max() <= _settings.LeafRows).Select(p => p.Range).ToList();
            var parts = new List<KeyRange>();
            foreach (var (range, counts) in pending.Where(p => p.Rows.Max() > _settings.LeafRows))
            {
                // Cut where the node with the most rows here has every step-th key: its rows spread evenly over the parts.
                var largest = Array.IndexOf(counts, counts.Max());
                var fanout = KeyRange.Fanout(counts[largest], _settings.LeafRows, _settings.MaxFanout);
                var cut = range.Split(await BoundariesAsync(_nodes[largest], shape, range, KeyRange.Step(counts[largest], fanout), ct).ConfigureAwait(false));
                if (cut.Count == 1) leaves.Add(range);
                else parts.AddRange(cut);
            }
            foreach (var leaf in leaves)
            {
                var perNode = await AllAsync(n => RowsAsync(n, shape, leaf, ct)).ConfigureAwait(false);
                fetched += perNode.Sum(p => (long)p.Count);
                differences.Add((leaf.Path, KeyDifference.Compare(perNode)));
            }
            var next = new List<(KeyRange, long[])>();
            if (parts.Count > 0)
            {
                var hashes = await HashAsync(shape, parts, ct).ConfigureAwait(false);
                hashed += parts.Count;
                for (var i = 0; i < parts.Count; i++)
                    if (!Same(hashes, i)) next.Add((parts[i], hashes.Select(h => h[i].Rows).ToArray()));
            }
            pending = next;
        }
        var all = differences.OrderBy(d => d.Path, StringComparer.Ordinal).SelectMany(d => d.Found).ToList();
        return new TableRowDiff(shape.QualifiedName, shape.Key, rows, all, RangesHashed: hashed, RowsFetched: fetched);
    }

    private async Task<TableRowDiff> KeylessAsync(TableShape shape, List<long?> rows, CancellationToken ct)
    {
        var hash = string.Format(System.Globalization.CultureInfo.InvariantCulture, HashOf, "s.x");
        var buckets = await AllAsync(async n =>
        {
            await using var cmd = new NpgsqlCommand(
                $"SELECT ({hash} >> {BucketShift})::int4, pg_catalog.count(*), pg_catalog.sum({hash})::text " +
                $"FROM (SELECT {shape.RowText("r")} AS x FROM {shape.Quoted} r) s GROUP BY 1", n.Conn) { CommandTimeout = 0 };
            var found = new Dictionary<int, (long, string)>();
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false)) found[r.GetInt32(0)] = (r.GetInt64(1), r.GetString(2));
            return found;
        }).ConfigureAwait(false);
        var differing = buckets.SelectMany(b => b.Keys).Distinct()
            .Where(b => buckets.Select(n => n.GetValueOrDefault(b)).Distinct().Count() > 1).ToArray();
        var perNode = await AllAsync(async n =>
        {
            await using var cmd = new NpgsqlCommand(
                $"SELECT s.x, pg_catalog.count(*), {hash} FROM (SELECT {shape.RowText("r")} AS x FROM {shape.Quoted} r) s " +
                $"WHERE ({hash} >> {BucketShift})::int4 = ANY ($1) GROUP BY s.x ORDER BY s.x", n.Conn) { CommandTimeout = 0 };
            cmd.Parameters.Add(new NpgsqlParameter { Value = differing });
            var found = new Dictionary<RowKey, RowVersion>();
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false))
                found[new RowKey([r.GetString(0)])] = new RowVersion(r.GetInt64(2), r.GetString(0), r.GetInt64(1));
            return (IReadOnlyDictionary<RowKey, RowVersion>)found;
        }).ConfigureAwait(false);
        return new TableRowDiff(shape.QualifiedName, [], rows, KeyDifference.Compare(perNode), RangesHashed: 1 + differing.Length,
            RowsFetched: perNode.Sum(p => p.Values.Sum(v => v.Copies)));
    }

    private sealed record RangeHash(long Rows, string Sum);

    private static bool Same(RangeHash[][] perNode, int range) => perNode.Select(n => n[range]).Distinct().Count() == 1;

    /// <summary>Count and hash of every range on every node: per node one round trip, all nodes at once.</summary>
    private Task<RangeHash[][]> HashAsync(TableShape shape, IReadOnlyList<KeyRange> ranges, CancellationToken ct) =>
        AllAsync(async n =>
        {
            await using var batch = new NpgsqlBatch(n.Conn) { Timeout = 0 };
            var hash = string.Format(System.Globalization.CultureInfo.InvariantCulture, HashOf, shape.RowText("r"));
            foreach (var range in ranges)
            {
                var parameters = new List<string>();
                var where = range.Condition(KeyColumns(shape), shape.KeyTypes, parameters);
                batch.BatchCommands.Add(Command(
                    $"SELECT pg_catalog.count(*), coalesce(pg_catalog.sum({hash}), 0)::text FROM {shape.Quoted} r WHERE {where}", parameters));
            }
            var result = new RangeHash[ranges.Count];
            await using var r = await batch.ExecuteReaderAsync(ct).ConfigureAwait(false);
            for (var i = 0; i < ranges.Count; i++)
            {
                if (i > 0) await r.NextResultAsync(ct).ConfigureAwait(false);
                await r.ReadAsync(ct).ConfigureAwait(false);
                result[i] = new RangeHash(r.GetInt64(0), r.GetString(1));
            }
            return result;
        });

    /// <summary>Every <paramref name="step"/>-th key of <paramref name="range"/> on one node, ascending.</summary>
    private static async Task<IReadOnlyList<IReadOnlyList<string>>> BoundariesAsync(Snapshot node, TableShape shape, KeyRange range, long step,
        CancellationToken ct)
    {
        var parameters = new List<string>();
        var where = range.Condition(KeyColumns(shape), shape.KeyTypes, parameters);
        await using var cmd = new NpgsqlCommand(
            $"SELECT s.k FROM (SELECT {shape.KeyText("r")} AS k, pg_catalog.row_number() OVER (ORDER BY {shape.KeyList("r")}) AS n " +
            $"FROM {shape.Quoted} r WHERE {where}) s WHERE s.n % {step} = 0 ORDER BY s.n", node.Conn) { CommandTimeout = 0 };
        foreach (var p in parameters) cmd.Parameters.Add(new NpgsqlParameter { Value = p });
        var bounds = new List<IReadOnlyList<string>>();
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false)) bounds.Add(r.GetFieldValue<string[]>(0));
        return bounds;
    }

    /// <summary>The rows of a small range on one node: key, hash and the start of the text of each.</summary>
    private static async Task<IReadOnlyDictionary<RowKey, RowVersion>> RowsAsync(Snapshot node, TableShape shape, KeyRange range, CancellationToken ct)
    {
        var parameters = new List<string>();
        var where = range.Condition(KeyColumns(shape), shape.KeyTypes, parameters);
        var hash = string.Format(System.Globalization.CultureInfo.InvariantCulture, HashOf, "s.x");
        await using var cmd = new NpgsqlCommand(
            $"SELECT s.k, {hash}, pg_catalog.substr(s.x, 1, {RowDiffReport.ShownRowText + 1}) " +
            $"FROM (SELECT {shape.KeyText("r")} AS k, {shape.RowText("r")} AS x FROM {shape.Quoted} r WHERE {where} ORDER BY {shape.KeyList("r")}) s",
            node.Conn) { CommandTimeout = 0 };
        foreach (var p in parameters) cmd.Parameters.Add(new NpgsqlParameter { Value = p });
        var rows = new Dictionary<RowKey, RowVersion>();
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false))
            rows[new RowKey(r.GetFieldValue<string[]>(0))] = new RowVersion(r.GetInt64(1), r.GetString(2));
        return rows;
    }

    private static List<string> KeyColumns(TableShape shape) => shape.Key.Select(k => "r." + Quote.Ident(k)).ToList();

    private static NpgsqlBatchCommand Command(string sql, List<string> parameters)
    {
        var command = new NpgsqlBatchCommand(sql);
        foreach (var p in parameters) command.Parameters.Add(new NpgsqlParameter { Value = p });
        return command;
    }

    /// <summary>The same work on every node at once (each on its own connection).</summary>
    private async Task<T[]> AllAsync<T>(Func<Snapshot, Task<T>> work) =>
        await Task.WhenAll(_nodes.Select(work)).ConfigureAwait(false);

    /// <summary>One node's connection, inside one read-only repeatable-read transaction for the whole diff.</summary>
    private sealed class Snapshot : IAsyncDisposable
    {
        public required string Name { get; init; }
        public required NpgsqlConnection Conn { get; init; }

        public static async Task<Snapshot> OpenAsync(string name, string connectionString, CancellationToken ct)
        {
            var conn = await ConnectionStrings.OpenAdminAsync(connectionString, "pgmm diff", ct).ConfigureAwait(false);
            try
            {
                await using var begin = new NpgsqlCommand("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", conn);
                await begin.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                return new Snapshot { Name = name, Conn = conn };
            }
            catch
            {
                await conn.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }

        public ValueTask DisposeAsync() => Conn.DisposeAsync();
    }
}
