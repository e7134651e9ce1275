using Npgsql;

namespace PgMultiMaster.Membership;

/// <summary>
/// One COPY from a source query into a target table, streamed: <c>COPY (query) TO STDOUT</c> on the source feeds
/// <c>COPY table FROM STDIN</c> on the target chunk by chunk, in constant memory. Binary when every column's type is
/// built in (the binary form of a user-defined composite or array names its type's oid, which differs between
/// databases); text otherwise.
/// </summary>
internal static class TablePipe
{
    private const int ChunkBytes = 1 << 16;

    public static async Task<(long Rows, long Bytes)> CopyAsync(
        NpgsqlConnection source, NpgsqlConnection target, string query, string targetTable, string columns, bool binary,
        CopyProgress progress, CancellationToken ct)
    {
        var counter = new CopyRowCounter(binary);
        long rows = 0, bytes = 0;
        void Count(int length)
        {
            bytes += length;
            progress.Add(counter.Rows - rows, length);
            rows = counter.Rows;
        }

        if (binary)
        {
            await using var from = await source.BeginRawBinaryCopyAsync($"COPY ({query}) TO STDOUT (FORMAT binary)", ct).ConfigureAwait(false);
            await using var to = await target.BeginRawBinaryCopyAsync($"COPY {targetTable} ({columns}) FROM STDIN (FORMAT binary)", ct).ConfigureAwait(false);
            var buffer = new byte[ChunkBytes];
            try
            {
                int n;
                while ((n = await from.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
                {
                    counter.Add(buffer.AsSpan(0, n));
                    await to.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
                    Count(n);
                }
            }
            catch
            {
                // Not completed: the target must not commit half a table.
                await CancelAsync(to.CancelAsync).ConfigureAwait(false);
                throw;
            }
        }
        else
        {
            using var from = await source.BeginTextExportAsync($"COPY ({query}) TO STDOUT", ct).ConfigureAwait(false);
            await using var to = await target.BeginTextImportAsync($"COPY {targetTable} ({columns}) FROM STDIN", ct).ConfigureAwait(false);
            var buffer = new char[ChunkBytes];
            try
            {
                int n;
                while ((n = await from.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
                {
                    counter.AddText(buffer.AsSpan(0, n));
                    await to.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
                    Count(n);
                }
            }
            catch
            {
                await CancelAsync(((NpgsqlCopyTextWriter)to).CancelAsync).ConfigureAwait(false);
                throw;
            }
        }
        return (rows, bytes);
    }

    // The error that stopped the copy is the one to report: a COPY that its connection already ended (a cancelled
    // command, a broken connection) cannot be cancelled again, and its transaction is rolled back anyway.
    private static async Task CancelAsync(Func<Task> cancel)
    {
        try { await cancel().ConfigureAwait(false); }
        catch (Exception e) when (e is ObjectDisposedException or NpgsqlException or InvalidOperationException or IOException) { /* see above */ }
    }
}
