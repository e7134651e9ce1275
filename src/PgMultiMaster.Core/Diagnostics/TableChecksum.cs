using Npgsql;
using PgMultiMaster.Sql;

namespace PgMultiMaster.Diagnostics;

/// <summary>Row count and an order-independent checksum of a table's contents, comparable across nodes.</summary>
public sealed record TableChecksum(string Table, long Rows, string Hash)
{
    /// <summary>
    /// Hashes every row's text form (columns in name order, so column order on disk does not matter) and then the
    /// sorted row hashes. Text forms depend on session settings, which <see cref="ConnectionStrings"/> fixes.
    /// </summary>
    public static async Task<TableChecksum> ComputeAsync(NpgsqlConnection conn, string schema, string table, CancellationToken ct)
    {
        var quoted = Quote.Table(schema, table);
        var columns = new List<string>();
        await using (var cmd = new NpgsqlCommand(
            "SELECT attname FROM pg_attribute WHERE attrelid = pg_catalog.to_regclass($1) AND attnum > 0 AND NOT attisdropped ORDER BY attname", conn))
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = quoted });
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false)) columns.Add(r.GetString(0));
        }
        if (columns.Count == 0) throw new InvalidOperationException($"table {quoted} does not exist in {conn.Database}.");

        var row = "pg_catalog.md5(ROW(" + string.Join(", ", columns.Select(Quote.Ident)) + ")::text)";
        await using var sum = new NpgsqlCommand(
            $"SELECT pg_catalog.count(*), coalesce(pg_catalog.md5(pg_catalog.string_agg(h, '' ORDER BY h)), '') FROM (SELECT {row} AS h FROM {quoted}) rows", conn);
        await using var reader = await sum.ExecuteReaderAsync(ct).ConfigureAwait(false);
        await reader.ReadAsync(ct).ConfigureAwait(false);
        return new TableChecksum($"{schema}.{table}", reader.GetInt64(0), reader.GetString(1));
    }
}
