using System.Text;
using Npgsql;
using PgMultiMaster.Configuration;

namespace PgMultiMaster.IntegrationTests.Harness;

/// <summary>
/// Insert-only bookkeeping for the network fault tests. Every writer numbers its rows; a transaction writes a range of
/// them into <c>ledger</c> (keyed by node and number: a lost change shows) and into <c>journal</c> (no key, insert-only:
/// a transaction applied twice leaves its rows twice). The writers remember what committed; after quiescence every
/// node must hold each committed row exactly once, and nothing else.
/// </summary>
public sealed class Ledger
{
    public const string Schema = """
        CREATE TABLE public.ledger (node text NOT NULL, seq bigint NOT NULL, PRIMARY KEY (node, seq));
        CREATE TABLE public.journal (node text NOT NULL, seq bigint NOT NULL, payload text);
        """;

    public static void Configure(PgMultiMasterOptions o) => o.InsertOnlyTables = ["public.journal"];

    private readonly Lock _lock = new();
    private readonly Dictionary<string, List<(long From, long To)>> _committed = [];
    private readonly Dictionary<string, long> _next = [];

    /// <summary>Rows committed so far, over all writers.</summary>
    public long Committed
    {
        get { lock (_lock) return _committed.Values.Sum(ranges => ranges.Sum(r => r.To - r.From + 1)); }
    }

    public long CommittedBy(string node)
    {
        lock (_lock) return _committed.GetValueOrDefault(node)?.Sum(r => r.To - r.From + 1) ?? 0;
    }

    /// <summary>One transaction of <paramref name="rows"/> rows on <paramref name="node"/>, remembered once it committed.</summary>
    public async Task WriteAsync(NpgsqlConnection conn, string node, int rows, CancellationToken ct = default)
    {
        long from;
        lock (_lock)
        {
            from = _next.GetValueOrDefault(node) + 1;
            _next[node] = from + rows - 1;
        }
        var to = from + rows - 1;
        // One statement, so one transaction, writing both tables.
        await using var cmd = new NpgsqlCommand("""
            WITH l AS (INSERT INTO public.ledger SELECT $1, g FROM generate_series($2::bigint, $3::bigint) g)
            INSERT INTO public.journal SELECT $1, g, repeat('x', 20) FROM generate_series($2::bigint, $3::bigint) g
            """, conn);
        cmd.Parameters.Add(new NpgsqlParameter { Value = node });
        cmd.Parameters.Add(new NpgsqlParameter { Value = from });
        cmd.Parameters.Add(new NpgsqlParameter { Value = to });
        await cmd.ExecuteNonQueryAsync(ct); // the harness writes direct, never through a proxy
        lock (_lock)
        {
            if (!_committed.TryGetValue(node, out var ranges)) _committed[node] = ranges = [];
            ranges.Add((from, to));
        }
    }

    /// <summary>What one node holds against what committed: rows missing, rows twice or more, rows never committed.</summary>
    public sealed record NodeCheck(string Node, long Rows, long Lost, long Duplicated, long Unknown, string Sample);

    public async Task<List<NodeCheck>> CheckAsync(Mesh mesh)
    {
        HashSet<(string, long)> expected;
        lock (_lock) expected = _committed.SelectMany(kv => kv.Value.SelectMany(r => Range(r.From, r.To).Select(s => (kv.Key, s)))).ToHashSet();
        var checks = new List<NodeCheck>();
        foreach (var node in mesh.NodeNames)
        {
            var ledger = new HashSet<(string, long)>();
            var journal = new Dictionary<(string, long), long>();
            await using var conn = await mesh.OpenAsync(node);
            await using (var cmd = new NpgsqlCommand("SELECT node, seq FROM public.ledger", conn))
            await using (var r = await cmd.ExecuteReaderAsync())
                while (await r.ReadAsync()) ledger.Add((r.GetString(0), r.GetInt64(1)));
            await using (var cmd = new NpgsqlCommand("SELECT node, seq, count(*) FROM public.journal GROUP BY 1, 2", conn))
            await using (var r = await cmd.ExecuteReaderAsync())
                while (await r.ReadAsync()) journal[(r.GetString(0), r.GetInt64(1))] = r.GetInt64(2);

            var lost = expected.Where(e => !ledger.Contains(e) || !journal.ContainsKey(e)).ToList();
            var duplicated = journal.Where(j => j.Value > 1).Select(j => j.Key).ToList();
            var unknown = ledger.Concat(journal.Keys).Where(k => !expected.Contains(k)).Distinct().ToList();
            var sample = new StringBuilder();
            foreach (var (what, rows) in new[] { ("lost", lost), ("duplicated", duplicated), ("never committed", unknown) })
                if (rows.Count > 0) sample.Append($" {what}: {string.Join(", ", rows.Order().Take(5).Select(k => $"{k.Item1}/{k.Item2}"))}");
            checks.Add(new NodeCheck(node, journal.Values.Sum(), lost.Count, duplicated.Count, unknown.Count, sample.ToString()));
        }
        return checks;
    }

    /// <summary>Every committed row on every node exactly once; returns the rows checked.</summary>
    public async Task<long> AssertExactlyOnceEverywhereAsync(Mesh mesh)
    {
        var checks = await CheckAsync(mesh);
        var committed = Committed;
        Assert.True(committed > 0, "nothing was committed: the test tested nothing");
        Assert.True(checks.All(c => c is { Lost: 0, Duplicated: 0, Unknown: 0 } && c.Rows == committed),
            $"{committed} rows committed; " + string.Join("; ", checks.Select(c => $"{c.Node}: {c.Rows} rows, {c.Lost} lost, {c.Duplicated} duplicated, {c.Unknown} never committed{c.Sample}")));
        return checks.Sum(c => c.Rows);
    }

    private static IEnumerable<long> Range(long from, long to)
    {
        for (var i = from; i <= to; i++) yield return i;
    }
}
