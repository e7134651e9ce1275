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
}
