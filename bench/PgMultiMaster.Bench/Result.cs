namespace PgMultiMaster.Bench;

/// <summary>One measured run of one workload by one system.</summary>
internal sealed record Result(
    string Workload, string System, long Units, string Unit, double Seconds,
    double? WorkerCpuSeconds = null, double? PeakRssMb = null)
{
    public double PerSecond => Units / Seconds;
    public double? LagP50Ms { get; init; }
    public double? LagP99Ms { get; init; }
    /// <summary>What else to say about the run (printed under the table).</summary>
    public string? Note { get; init; }
    /// <summary>Whose CPU the CPU column counts when it is not the pgmm worker's (e.g. native's apply worker).</summary>
    public string? CpuLabel { get; init; }
    public double? CpuPer100k => WorkerCpuSeconds is null ? null : WorkerCpuSeconds / Units * 100_000;

    private const string RunLabel = " (run ";

    /// <summary>This result as run <paramref name="run"/> of a workload measured <paramref name="of"/> times (<c>--repeat</c>).</summary>
    public Result InRun(int run, int of) => of == 1 ? this : this with { Workload = $"{Workload}{RunLabel}{run} of {of})" };

    /// <summary>The workload without its run label.</summary>
    public string BaseWorkload => Workload.IndexOf(RunLabel, StringComparison.Ordinal) is var at and >= 0 ? Workload[..at] : Workload;

    public bool IsRepeated => BaseWorkload != Workload;
}
