namespace PgMultiMaster.Cli.Commands;

/// <summary><c>pgmm dead-letter list|show|retry|discard</c>: the changes parked on each node.</summary>
internal static class DeadLetterCommand
{
    public static async Task<int> RunAsync(string action, CliArgs args, CancellationToken ct)
    {
        var options = args.LoadOptions(requireNode: false);
        var config = args.LoadConfiguration();
        long? id = long.TryParse(config["Query:Id"], out var parsed) ? parsed : null;
        var nodes = NodeQuery.Nodes(options, config).ToList();
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
                var rows = await NodeQuery.RowsAsync(nodes[0], "SELECT pg_catalog.jsonb_pretty(pg_catalog.to_jsonb(d)) FROM pgmm.dead_letter d WHERE id = $1", [id], ct);
                if (rows.Count == 0) throw new CliException($"no parked change {id} on node '{nodes[0].Name}'.", 1);
                Console.WriteLine(rows[0][1]);
                return 0;
            }
            case "retry" or "discard":
            {
                if (id is null && !args.Has("--all")) throw new CliException($"dead-letter {action} needs --id N (with --on NODE) or --all.");
                if (id is not null && nodes.Count != 1) throw new CliException($"dead-letter {action} --id needs --on NODE: ids are per node.");
                var sql = action == "retry"
                    ? "UPDATE pgmm.dead_letter SET force = true, last_attempt_at = NULL WHERE ($1::bigint IS NULL OR id = $1) RETURNING id"
                    : "DELETE FROM pgmm.dead_letter WHERE ($1::bigint IS NULL OR id = $1) RETURNING id";
                var queued = new Dictionary<string, long[]>();
                foreach (var node in nodes)
                    queued[node.Name] = (await NodeQuery.RowsAsync(node, sql, [id], ct)).Select(r => long.Parse(r[1], System.Globalization.CultureInfo.InvariantCulture)).ToArray();
                var total = queued.Values.Sum(v => v.Length);
                if (action == "discard")
                {
                    Console.WriteLine($"Discarded {total} parked change(s).");
                    return 0;
                }
                Console.WriteLine($"Queued {total} parked change(s); the worker of each source node applies them within {options.Conflicts.RetryInterval.TotalSeconds:0}s.");
                if (!args.Has("--wait")) return 0;
                var deadline = DateTime.UtcNow + options.Conflicts.RetryInterval * 6;
                while (DateTime.UtcNow < deadline)
                {
                    // Applied ones are gone; failed ones stay with force cleared and their error.
                    var pending = 0;
                    var failed = 0;
                    foreach (var node in nodes)
                        foreach (var row in await NodeQuery.RowsAsync(node, "SELECT force FROM pgmm.dead_letter WHERE id = ANY($1)", [queued[node.Name]], ct))
                            if (row[1] == "True") pending++; else failed++;
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
