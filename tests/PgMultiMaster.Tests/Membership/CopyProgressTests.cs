using System.Globalization;
using Microsoft.Extensions.Time.Testing;
using PgMultiMaster.Membership;

namespace PgMultiMaster.Tests.Membership;

/// <summary>The copy's progress line: rows and bytes so far against the estimate, the rates, and the time left while it runs.</summary>
public sealed class CopyProgressTests
{
    private const long MB = 1048576;

    private readonly FakeTimeProvider _time = new();

    [Fact]
    public void While_running_it_tells_rows_bytes_rates_and_the_time_left_by_rows()
    {
        var progress = new CopyProgress("east -> west", 1_000_000, 100 * MB, _time);
        progress.Add(400_000, 40 * MB);
        progress.TableDone();
        _time.Advance(TimeSpan.FromSeconds(4));
        Assert.False(progress.Finished);
        Assert.Equal(TimeSpan.FromSeconds(4), progress.Elapsed);
        // 600,000 rows left at 100,000 rows/s (by bytes it would be 15 s: rows come first when the planner knows them).
        Assert.Equal("east -> west: 1/3 tables, 400,000 of ~1,000,000 rows, 40.0 MB, 100,000 rows/s, 10.0 MB/s, ETA 0:00:06", progress.Describe(3));
    }

    [Fact]
    public void The_time_left_is_rounded_up_to_a_second_and_reads_in_hours_when_long()
    {
        var progress = new CopyProgress("t", 1_000_000, 0, _time);
        progress.Add(300_000, 0);
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.EndsWith(", ETA 0:00:03", progress.Describe(1)); // 2.33 s
        var slow = new CopyProgress("t", 1_000_000, 0, _time);
        slow.Add(1_000, 0);
        _time.Advance(TimeSpan.FromSeconds(10));
        Assert.EndsWith(", ETA 2:46:30", slow.Describe(1)); // 999,000 rows at 100 rows/s
    }

    [Fact]
    public void Without_a_row_estimate_the_time_left_goes_by_bytes()
    {
        var progress = new CopyProgress("t", 0, 100 * MB, _time);
        progress.Add(10, 25 * MB);
        _time.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal("t: 0/1 tables, 10 rows, 25.0 MB, 2 rows/s, 5.0 MB/s, ETA 0:00:15", progress.Describe(1));
    }

    [Fact]
    public void Past_the_estimate_the_rows_so_far_are_the_estimate_and_no_time_left_is_guessed_without_bytes_to_go()
    {
        var progress = new CopyProgress("t", 100, 1 * MB, _time);
        progress.Add(150, 2 * MB);
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal("t: 0/2 tables, 150 of ~150 rows, 2.0 MB, 150 rows/s, 2.0 MB/s", progress.Describe(2));
    }

    [Fact]
    public void Before_anything_arrives_there_is_no_rate_to_guess_from()
    {
        var progress = new CopyProgress("t", 1_000, 1 * MB, _time);
        Assert.Equal("t: 0/4 tables, 0 of ~1,000 rows, 0.0 MB, 0 rows/s, 0.0 MB/s", progress.Describe(4));
        _time.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal("t: 0/4 tables, 0 of ~1,000 rows, 0.0 MB, 0 rows/s, 0.0 MB/s", progress.Describe(4));
    }

    [Fact]
    public void No_time_at_all_is_not_a_division_by_zero()
    {
        var progress = new CopyProgress("t", 0, 0, _time);
        progress.Add(5, 0);
        Assert.Equal(TimeSpan.Zero, progress.Elapsed);
        Assert.Equal("t: 0/1 tables, 5 rows, 0.0 MB, 5,000 rows/s, 0.0 MB/s", progress.Describe(1)); // over a millisecond
    }

    [Fact]
    public void Once_finished_the_time_stops_and_there_is_no_eta()
    {
        var progress = new CopyProgress("east -> west", 1_000_000, 100 * MB, _time);
        progress.Add(400_000, 40 * MB);
        _time.Advance(TimeSpan.FromSeconds(4));
        Assert.Contains("ETA", progress.Describe(3));
        progress.Add(600_000, 60 * MB);
        progress.TableDone();
        progress.TableDone();
        progress.TableDone();
        progress.Finish();
        _time.Advance(TimeSpan.FromMinutes(5));
        Assert.True(progress.Finished);
        Assert.Equal(TimeSpan.FromSeconds(4), progress.Elapsed);
        Assert.Equal("east -> west: 3/3 tables, 1,000,000 of ~1,000,000 rows, 100.0 MB, 250,000 rows/s, 25.0 MB/s", progress.Describe(3));
        // Finished short of the estimate (the planner guessed high): still no ETA.
        var shortOf = new CopyProgress("t", 1_000_000, 100 * MB, _time);
        shortOf.Add(10, 1 * MB);
        _time.Advance(TimeSpan.FromSeconds(1));
        shortOf.Finish();
        Assert.DoesNotContain("ETA", shortOf.Describe(1));
    }

    [Fact]
    public void Copies_on_many_threads_add_up()
    {
        var progress = new CopyProgress("t", 0, 0, _time);
        Parallel.For(0, 10_000, new ParallelOptions { MaxDegreeOfParallelism = 8 }, _ =>
        {
            progress.Add(3, 100);
            progress.TableDone();
        });
        Assert.Equal(30_000, progress.Rows);
        Assert.Equal(1_000_000, progress.Bytes);
        Assert.Equal(10_000, progress.TablesDone);
    }

    [Fact]
    public void The_text_does_not_depend_on_the_culture()
    {
        var culture = CultureInfo.CurrentCulture;
        try
        {
            // The tests run globalization-invariant, as pgmm does (no de-DE): a culture of its own with German separators.
            var german = (CultureInfo)CultureInfo.InvariantCulture.Clone();
            german.NumberFormat.NumberGroupSeparator = ".";
            german.NumberFormat.NumberDecimalSeparator = ",";
            CultureInfo.CurrentCulture = german;
            Assert.Equal("1.000.000", 1_000_000.ToString("N0", CultureInfo.CurrentCulture));
            var progress = new CopyProgress("t", 2_000_000, 0, _time);
            progress.Add(1_000_000, 3 * MB / 2);
            _time.Advance(TimeSpan.FromSeconds(1));
            Assert.Equal("t: 0/1 tables, 1,000,000 of ~2,000,000 rows, 1.5 MB, 1,000,000 rows/s, 1.5 MB/s, ETA 0:00:01", progress.Describe(1));
        }
        finally { CultureInfo.CurrentCulture = culture; }
    }

    [Theory]
    [InlineData(0, "0.0 MB")]
    [InlineData(52_428, "0.0 MB")]
    [InlineData(52_429, "0.1 MB")]
    [InlineData(1_048_576, "1.0 MB")]
    [InlineData(1_572_864, "1.5 MB")]
    [InlineData(5L * 1024 * 1_048_576, "5120.0 MB")]
    public void Megabytes_are_mebibytes_to_a_tenth(long bytes, string text) => Assert.Equal(text, CopyProgress.Megabytes(bytes));
}
