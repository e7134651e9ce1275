using Npgsql;
using PgMultiMaster.Diagnostics;
using PgMultiMaster.Sql;
using PgMultiMaster.Topology;

namespace PgMultiMaster.Repair;

/// <summary>
/// <c>pgmm repair</c>: makes every other node's rows of one table match the source node's, for the keys the row diff
/// found. Each node is written in one transaction, under <c>session_replication_role = replica</c> (user triggers and
/// foreign-key checks do not fire, as for applied rows) and under the replication origin
/// <see cref="ClusterTopology.RepairOriginName"/>, which every link skips as echo: the node's peers are repaired
/// directly, not through replication, so the writes travel nowhere and meet no conflict on the way.
/// </summary>
public static class RowRepair
{
    /// <summary>A change made: what the step planned, what was done (null: the row already matched by then), and the texts.</summary>
    public sealed record Done(RepairStep Step, RepairAction? Action, string? OldRow, string? NewRow);

    /// <summary>Writes <paramref name="plan"/> (from <see cref="RepairPlan.For"/>): per node one transaction; returns what changed.</summary>
    /// <param name="onDone">Called for every step once its node's transaction has committed.</param>
    public static async Task<IReadOnlyList<Done>> ApplyAsync(ClusterTopology topology, string schema, string table, string source,
        IReadOnlyList<RepairStep> plan, Action<Done> onDone, CancellationToken ct)
    {
        var done = new List<Done>();
        await using var from = await ConnectionStrings.OpenAdminAsync(topology.NodeNamed(source).ConnectionString, "pgmm repair", ct).ConfigureAwait(false);
        var fromShape = await TableShape.LoadAsync(from, schema, table, ct).ConfigureAwait(false)
                        ?? throw new InvalidOperationException($"table {schema}.{table} does not exist on node '{source}'.");
        foreach (var node in plan.GroupBy(s => s.Node))
        {
            var committed = await RepairNodeAsync(topology, from, fromShape, source, node.Key, node.ToList(), ct).ConfigureAwait(false);
            foreach (var d in committed) onDone(d);
            done.AddRange(committed);
        }
        return done;
    }

    private static async Task<List<Done>> RepairNodeAsync(ClusterTopology topology, NpgsqlConnection from, TableShape fromShape, string source,
        string nodeName, IReadOnlyList<RepairStep> steps, CancellationToken ct)
    {
        await using var conn = await ConnectionStrings.OpenAdminAsync(topology.NodeNamed(nodeName).ConnectionString, "pgmm repair", ct).ConfigureAwait(false);
        var shape = await TableShape.LoadAsync(conn, fromShape.Schema, fromShape.Name, ct).ConfigureAwait(false)
                    ?? throw new InvalidOperationException($"table {fromShape.QualifiedName} does not exist on node '{nodeName}'.");
        if (!shape.HasKey) throw new InvalidOperationException($"table {shape.QualifiedName} has no key on node '{nodeName}': repair matches rows by key.");
        if (await ScalarAsync<bool>(conn, "SELECT pg_catalog.to_regclass('pgmm.repair_log') IS NULL", ct).ConfigureAwait(false))
            throw new InvalidOperationException($"node '{nodeName}' has no pgmm.repair_log: run pgmm init to bring the pgmm schema up to date.");

        // As the apply: applied rows fire no ordinary triggers and foreign-key checks a second time.
        await ExecAsync(conn, "SET session_replication_role = replica", ct).ConfigureAwait(false);
        // The origin every link skips as echo (LinkRunner). Not a link's own origin: the running apply session holds that.
        await ExecAsync(conn, "SELECT pg_catalog.pg_replication_origin_create($1) FROM (SELECT 1) x " +
                              "WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_replication_origin WHERE roname = $1)", ct, topology.RepairOriginName).ConfigureAwait(false);
        try
        {
            await ExecAsync(conn, "SELECT pg_catalog.pg_replication_origin_session_setup($1)", ct, topology.RepairOriginName).ConfigureAwait(false);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.ObjectInUse)
        {
            throw new InvalidOperationException($"node '{nodeName}': another pgmm repair is running there (origin {topology.RepairOriginName} is in use).", e);
        }

        var nonKey = shape.Writable.Where(c => !shape.Key.Contains(c.Column)).ToList();
        var done = new List<Done>();
        await using var tx = await conn.BeginTransactionAsync(ct).ConfigureAwait(false);
        foreach (var step in steps)
        {
            // What is there now, on both sides: the diff's snapshot may be older than this transaction.
            var old = await RowTextAsync(conn, shape, step.Key, lockRow: true, ct).ConfigureAwait(false);
            var right = await RowTextAsync(from, fromShape, step.Key, lockRow: false, ct).ConfigureAwait(false);
            RepairAction? action = (right, old) switch
            {
                (null, null) => null,
                (null, _) => RepairAction.Delete,
                (_, null) => RepairAction.Insert,
                _ when right != old => RepairAction.Update,
                _ => null,
            };
            if (action is { } a)
            {
                var values = a == RepairAction.Delete ? null : await ValuesAsync(from, fromShape, shape, step.Key, ct).ConfigureAwait(false);
                var written = await WriteAsync(conn, shape, nonKey, step.Key, a, values, ct).ConfigureAwait(false);
                if (written != 1) throw new InvalidOperationException($"node '{nodeName}': {a.Name()} of {step.Key.Describe(shape.Key)} changed {written} rows.");
                await ExecAsync(conn, "INSERT INTO pgmm.repair_log (table_name, key, action, from_node, old_row, new_row) VALUES ($1, $2, $3, $4, $5, $6)", ct,
                    shape.QualifiedName, step.Key.Values.ToArray(), a.Name(), source, old, right).ConfigureAwait(false);
            }
            done.Add(new Done(step, action, old, right));
        }
        await tx.CommitAsync(ct).ConfigureAwait(false);
        return done;
    }

    /// <summary>The row's text on a node (columns in name order, as the diff hashes it); null when it has none.</summary>
    private static async Task<string?> RowTextAsync(NpgsqlConnection conn, TableShape shape, RowKey key, bool lockRow, CancellationToken ct)
    {
        var parameters = new List<object?>();
        await using var cmd = new NpgsqlCommand(
            $"SELECT {shape.RowText("r")} FROM {shape.Quoted} r WHERE {KeyCondition(shape, key, parameters, "r.")}{(lockRow ? " FOR UPDATE" : "")}", conn);
        Add(cmd, parameters);
        return await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false) as string;
    }

    /// <summary>The source's values of the target's writable columns, as text (null for NULL), in the target's order.</summary>
    private static async Task<string?[]?> ValuesAsync(NpgsqlConnection from, TableShape fromShape, TableShape target, RowKey key, CancellationToken ct)
    {
        var parameters = new List<object?>();
        var columns = string.Join(", ", target.Writable.Select(c => "r." + Quote.Ident(c.Column) + "::text"));
        await using var cmd = new NpgsqlCommand(
            $"SELECT ARRAY[{columns}]::text[] FROM {fromShape.Quoted} r WHERE {KeyCondition(fromShape, key, parameters, "r.")}", from);
        Add(cmd, parameters);
        return await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false) as string?[];
    }

    private static async Task<int> WriteAsync(NpgsqlConnection conn, TableShape shape, IReadOnlyList<(string Column, string Type)> nonKey,
        RowKey key, RepairAction action, string?[]? values, CancellationToken ct)
    {
        var parameters = new List<object?>();
        string Value(int column)
        {
            parameters.Add(values![column]);
            return $"${parameters.Count}::{shape.Writable[column].Type}";
        }
        string sql;
        switch (action)
        {
            case RepairAction.Delete:
                sql = $"DELETE FROM {shape.Quoted} WHERE {KeyCondition(shape, key, parameters, "")}";
                break;
            case RepairAction.Insert:
                sql = $"INSERT INTO {shape.Quoted} ({string.Join(", ", shape.Writable.Select(c => Quote.Ident(c.Column)))}) OVERRIDING SYSTEM VALUE " +
                      $"VALUES ({string.Join(", ", shape.Writable.Select((_, i) => Value(i)))})";
                break;
            case RepairAction.Update when ReplacesRow(shape, nonKey):
                // No UPDATE can write a GENERATED ALWAYS identity column (428C9): the row is deleted and inserted again in
                // one statement (its foreign keys are not checked: the session replays as a replica).
                sql = $"WITH d AS (DELETE FROM {shape.Quoted} WHERE {KeyCondition(shape, key, parameters, "")} RETURNING 1) " +
                      $"INSERT INTO {shape.Quoted} ({string.Join(", ", shape.Writable.Select(c => Quote.Ident(c.Column)))}) OVERRIDING SYSTEM VALUE " +
                      $"SELECT {string.Join(", ", shape.Writable.Select((_, i) => Value(i)))} WHERE EXISTS (SELECT 1 FROM d)";
                break;
            default:
                // The key stays: only the other columns are set (so no tombstone of a key change is recorded).
                var sets = nonKey.Select(c => $"{Quote.Ident(c.Column)} = {Value(shape.Writable.ToList().IndexOf(c))}").ToList();
                sql = $"UPDATE {shape.Quoted} SET {string.Join(", ", sets)} WHERE {KeyCondition(shape, key, parameters, "")}";
                break;
        }
        await using var cmd = new NpgsqlCommand(sql, conn);
        Add(cmd, parameters);
        return await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    /// <summary>An update of this table would have to write a <c>GENERATED ALWAYS</c> identity column that is not its key.</summary>
    private static bool ReplacesRow(TableShape shape, IReadOnlyList<(string Column, string Type)> nonKey) =>
        shape.AlwaysIdentity is { Count: > 0 } always && nonKey.Any(c => always.Contains(c.Column));

    private static string KeyCondition(TableShape shape, RowKey key, List<object?> parameters, string prefix) =>
        string.Join(" AND ", shape.Key.Select((k, i) =>
        {
            parameters.Add(key.Values[i]);
            return $"{prefix}{Quote.Ident(k)} = ${parameters.Count}::{shape.KeyTypes[i]}";
        }));

    private static void Add(NpgsqlCommand cmd, List<object?> parameters)
    {
        foreach (var p in parameters) cmd.Parameters.Add(new NpgsqlParameter { Value = p ?? DBNull.Value, NpgsqlDbType = p is string[] ? NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Text : NpgsqlTypes.NpgsqlDbType.Text });
    }

    private static async Task ExecAsync(NpgsqlConnection conn, string sql, CancellationToken ct, params object?[] args)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        Add(cmd, [.. args]);
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    private static async Task<T> ScalarAsync<T>(NpgsqlConnection conn, string sql, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        return (T)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
    }
}
