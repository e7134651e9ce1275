using Npgsql;

namespace PgMultiMaster.Cli.Commands.Demo;

/// <summary>
/// One writer of the demo's application: each transaction opens an account, now and then updates or deletes one of the
/// writer's older accounts and the shared account 0, adds an order of three lines and an audit row.
/// </summary>
/// <param name="writer">Which writer (0, 1, 2): the seed of its choices and the range of its account ids.</param>
internal sealed class DemoWorkload(int writer)
{
    private readonly Random _random = new(writer);
    private readonly long _idBase = (writer + 1) * 1_000_000_000L;
    private long _next;

    /// <summary>
    /// The statements of one transaction, on <paramref name="conn"/> (in its open transaction), as written on node
    /// <paramref name="node"/>. Every call takes a new account id and order id: a transaction retried after its
    /// connection was lost never reuses the keys of the attempt before, which may have committed after all.
    /// </summary>
    public async Task WriteAsync(NpgsqlConnection conn, string node)
    {
        var id = _idBase + _next++;
        await Exec(conn, "INSERT INTO public.accounts VALUES ($1, $2, $3::public.account_kind, $4, $5, now())",
            id, $"owner {id}", _random.Next(2) == 0 ? "personal" : "business", (decimal)_random.Next(100_000) / 100, new[] { node, "demo" });
        if (_next > 10)
        {
            var other = _idBase + _random.NextInt64(_next);
            await Exec(conn, "UPDATE public.accounts SET balance = balance + 1.25, updated_at = now() WHERE id = $1", other);
            if (_random.Next(10) == 0)
                await Exec(conn, "DELETE FROM public.accounts WHERE id = $1", _idBase + _random.NextInt64(_next));
        }
        if (_next % 5 == 0)
            await Exec(conn, "UPDATE public.accounts SET balance = balance + 1, updated_at = now() WHERE id = 0");
        var order = Guid.NewGuid();
        for (var line = 1; line <= 3; line++)
            await Exec(conn, "INSERT INTO public.\"Order Items\" VALUES ($1, $2, $3, $4, $5::jsonb)",
                order, line, $"SKU-{_random.Next(1000)}", _random.Next(1, 9), $"{{\"node\": \"{node}\", \"line\": {line}}}");
        await Exec(conn, "INSERT INTO public.audit_log (node, message) VALUES ($1, $2)", node, $"account {id} opened");
    }

    private static async Task Exec(NpgsqlConnection conn, string sql, params object[] args)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        foreach (var a in args) cmd.Parameters.Add(new NpgsqlParameter { Value = a });
        // Not cancelled half-way: a transaction ends by commit or by its connection's loss, never by the demo's clock.
        await cmd.ExecuteNonQueryAsync(CancellationToken.None);
    }
}
