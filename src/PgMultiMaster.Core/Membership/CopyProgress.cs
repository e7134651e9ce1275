using System.Globalization;

namespace PgMultiMaster.Membership;

/// <summary>
/// Rows and bytes copied into one node so far, against the source's estimate of the total (planner statistics and
/// table sizes): the rate and the time left. Updated by every table's copy at once.
/// </summary>
public sealed class CopyProgress(string what, long estimatedRows, long estimatedBytes, TimeProvider time)
{
    private readonly long _started = time.GetTimestamp();
    private long _rows, _bytes;
    private int _tablesDone;
    private TimeSpan? _finished;

    public string What => what;
    public long Rows => Interlocked.Read(ref _rows);
    public long Bytes => Interlocked.Read(ref _bytes);
    public int TablesDone => Volatile.Read(ref _tablesDone);
    /// <summary>How long the copy has taken so far, or took once <see cref="Finish"/> was called.</summary>
    public TimeSpan Elapsed => _finished ?? time.GetElapsedTime(_started);

    public bool Finished => _finished is not null;

    public void Finish() => _finished = time.GetElapsedTime(_started);

    public void Add(long rows, long bytes)
    {
        Interlocked.Add(ref _rows, rows);
        Interlocked.Add(ref _bytes, bytes);
    }

    public void TableDone() => Interlocked.Increment(ref _tablesDone);

    /// <summary>For example <c>east -> west: 420,000 of ~1,000,000 rows, 38.2 MB, 95,000 rows/s, 8.6 MB/s, ETA 0:00:06</c>.</summary>
    public string Describe(int tables)
    {
        var seconds = Math.Max(Elapsed.TotalSeconds, 0.001);
        var (rows, bytes) = (Rows, Bytes);
        var rate = rows / seconds;
        // Not nested in the text below: an interpolated string inside another is formatted in the current culture.
        var estimate = estimatedRows > 0 ? string.Create(CultureInfo.InvariantCulture, $" of ~{Math.Max(estimatedRows, rows):N0}") : "";
        var text = string.Create(CultureInfo.InvariantCulture,
            $"{what}: {TablesDone}/{tables} tables, {rows:N0}{estimate} rows, " +
            $"{Megabytes(bytes)}, {rate:N0} rows/s, {Megabytes((long)(bytes / seconds))}/s");
        return Finished ? text : text + Eta(rows, bytes, seconds);
    }

    private string Eta(long rows, long bytes, double seconds)
    {
        // Rows when the planner knows the tables' sizes, else bytes against their size on disk (a rough guide).
        double? left = estimatedRows > rows && rows > 0 ? (estimatedRows - rows) * seconds / rows
            : estimatedBytes > bytes && bytes > 0 ? (estimatedBytes - bytes) * seconds / bytes : null;
        return left is { } s ? string.Create(CultureInfo.InvariantCulture, $", ETA {TimeSpan.FromSeconds(Math.Ceiling(s)):g}") : "";
    }

    public static string Megabytes(long bytes) => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1048576.0:0.0} MB");
}
