using Npgsql;
using PgMultiMaster.Sql;

namespace PgMultiMaster.Cli.Commands;

/// <summary>
/// <c>pgmm ddl "STATEMENT" --node NAME [--role ROLE]</c>: runs one schema change on one node through
/// <c>pgmm.replicate_ddl</c>, which records it in the same transaction so that every other node applies it at the same
/// place in the change stream (sql/009_ddl.sql).
/// </summary>
internal static class ReplicateDdlCommand
{
    public static async Task<int> RunAsync(CliConfiguration configuration, string statement, string? role, CancellationToken ct)
    {
        var options = configuration.LoadOptions(requireNode: true);
        var node = options.Nodes.Single(n => n.Name == options.Node);
        await using var conn = await ConnectionStrings.OpenAdminAsync(node.ConnectionString, "pgmm ddl", ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        try
        {
            // The statement runs with this role's rights, and a table it creates is this role's, on every node.
            if (role is not null)
                await using (var setRole = new NpgsqlCommand("SELECT pg_catalog.set_config('role', $1, true)", conn, tx))
                {
                    setRole.Parameters.Add(new NpgsqlParameter { Value = role });
                    await setRole.ExecuteNonQueryAsync(ct);
                }
            // PostgreSQL's default search_path ("$user", public), not pgmm's own: the statement names tables as applications do.
            await using (var path = new NpgsqlCommand("SELECT pg_catalog.set_config('search_path', boot_val, true) FROM pg_catalog.pg_settings WHERE name = 'search_path'", conn, tx))
                await path.ExecuteNonQueryAsync(ct);
            await using (var run = new NpgsqlCommand("SELECT pgmm.replicate_ddl($1)", conn, tx))
            {
                run.Parameters.Add(new NpgsqlParameter { Value = statement });
                await run.ExecuteNonQueryAsync(ct);
            }
            await tx.CommitAsync(ct);
        }
        catch (PostgresException e)
        {
            throw new CliException($"node '{node.Name}': {e.MessageText}{(e.Hint is null ? "" : $" ({e.Hint})")}; nothing was changed.", 1);
        }
        Console.WriteLine($"node '{node.Name}': done; every other node applies it in order with the data.");
        return 0;
    }
}
