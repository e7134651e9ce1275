using Dapper;

namespace PgMultiMaster.Cli.Commands;

/// <summary><c>pgmm dead-letter list|show|retry|discard</c>: the changes parked on each node.</summary>
internal static class DeadLetterCommand
{
    /// <summary>The flags: --on, --id, --all, --wait.</summary>
    public sealed record Target(string? On, long? Id, bool All, bool Wait);

    public static async Task<int> RunAsync(string action, CliConfiguration configuration, Target target, CancellationToken ct)
    {
        var options = configuration.LoadOptions(requireNode: false);
        var id = target.Id;
        var nodes = NodeQuery.Nodes(options, target.On).ToList();
        switch (action)
        {
            case "list":
            {
                var rows = new List<string[]>();
                foreach (var node in nodes)
                    rows.AddRange(await NodeQuery.RowsAsync(node,
                        "SELECT id, parked_at, source_node, table_name, operation, coalesce(conflict_type, ''), key::text, reason, attempts, coalesce(last_error, '') " +
                        "FROM pgmm.dead_letter ORDER BY id", [], ct));
                NodeQuery.Print(["node", "id", "parked at", "from", "table", "op", "conflict", "key", "reason", "attempts", "last error"], rows);
                Console.WriteLine($"{rows.Count} parked change(s).");
                return 0;
            }
            case "show":
            {
                if (id is null || nodes.Count != 1) throw new CliException("dead-letter show needs --on NODE and --id N.");
                await using var conn = await NodeQuery.OpenAsync(nodes[0], ct);
                var json = await conn.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
                    "SELECT pg_catalog.jsonb_pretty(pg_catalog.to_jsonb(d)) FROM pgmm.dead_letter d WHERE id = @id", new { id }, cancellationToken: ct));
                Console.WriteLine(json ?? throw new CliException($"no parked change {id} on node '{nodes[0].Name}'.", 1));
                return 0;
            }
            case "retry" or "discard":
            {
                if (id is null && !target.All) throw new CliException($"dead-letter {action} needs --id N (with --on NODE) or --all.");
                if (id is not null && nodes.Count != 1) throw new CliException($"dead-letter {action} --id needs --on NODE: ids are per node.");
                var sql = action == "retry"
                    ? "UPDATE pgmm.dead_letter SET force = true, last_attempt_at = NULL WHERE (@id::bigint IS NULL OR id = @id) RETURNING id"
                    : "DELETE FROM pgmm.dead_letter WHERE (@id::bigint IS NULL OR id = @id) RETURNING id";
                var queued = new Dictionary<string, long[]>();
                foreach (var node in nodes)
                {
                    await using var conn = await NodeQuery.OpenAsync(node, ct);
                    queued[node.Name] = [.. await conn.QueryAsync<long>(new CommandDefinition(sql, new { id }, cancellationToken: ct))];
                }
                var total = queued.Values.Sum(v => v.Length);
                if (action == "discard")
                {
                    Console.WriteLine($"Discarded {total} parked change(s).");
                    return 0;
                }
                Console.WriteLine($"Queued {total} parked change(s); the worker of each source node applies them within {options.Conflicts.RetryInterval.TotalSeconds:0}s.");
                if (!target.Wait) return 0;
                var deadline = DateTime.UtcNow + options.Conflicts.RetryInterval * 6;
                while (DateTime.UtcNow < deadline)
                {
                    // Applied ones are gone; failed ones stay with force cleared and their error.
                    var pending = 0;
                    var failed = 0;
                    foreach (var node in nodes)
                    {
                        await using var conn = await NodeQuery.OpenAsync(node, ct);
                        // Npgsql sends the array as one parameter; Dapper expands lists only for providers without arrays.
                        foreach (var force in await conn.QueryAsync<bool>(new CommandDefinition(
                                     "SELECT force FROM pgmm.dead_letter WHERE id = ANY(@ids)", new { ids = queued[node.Name] }, cancellationToken: ct)))
                            if (force) pending++; else failed++;
                    }
                    if (pending == 0)
                    {
                        Console.WriteLine($"Applied {total - failed}; {failed} failed again (see pgmm dead-letter list).");
                        return failed == 0 ? 0 : 1;
                    }
                    await Task.Delay(500, ct);
                }
                throw new CliException("not applied yet: is the worker of the source node running? See pgmm dead-letter list for errors.", 1);
            }
            default:
                throw new CliException($"dead-letter {action}: unknown action (list, show, retry, discard).");
        }
    }
}
