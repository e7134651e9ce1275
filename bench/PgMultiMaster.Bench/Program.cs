using PgMultiMaster.Bench;

// Side-by-side replication benchmark: native logical replication vs PgMultiMaster, same servers, same settings.
// Usage: dotnet run -c Release --project bench/PgMultiMaster.Bench -- [bulk|updates|lag|live|bigtx|bigrows|mesh|all|floor] [--rows N] [--transactions N] [--big-rows N] [--huge-rows N] [--mb N] [--rate N] [--clients N] [--seconds N] [--repeat N] [--out DIR]
var scenario = args.FirstOrDefault(a => !a.StartsWith("--", StringComparison.Ordinal)) ?? "all";
int Arg(string name, int fallback) =>
    Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], System.Globalization.CultureInfo.InvariantCulture) : fallback;
var outDir = Array.IndexOf(args, "--out") is var o and >= 0 ? args[o + 1] : "bench/results";

await using var bench = await Bench.StartAsync();
if (scenario == "floor")
{
    // Not a replication workload: what one UPDATE transaction costs the target server, by the form it arrives in.
    await bench.ProtocolFloorAsync();
    return;
}
var results = new List<Result>();
// The backlogs last seconds and a shared machine moves them by ±0.15: --repeat N measures each N times, native and
// pgmm alternating, and the report adds the median ratio.
var repeat = Arg("--repeat", 1);
async Task Repeated(Func<Task<IReadOnlyList<Result>>> workload)
{
    for (var run = 1; run <= repeat; run++)
        results.AddRange((await workload()).Select(r => r.InRun(run, repeat)));
}
if (scenario is "bulk" or "all") await Repeated(() => bench.BulkInsertAsync(Arg("--rows", 200_000), 1_000));
if (scenario is "updates" or "all") await Repeated(() => bench.UpdateBacklogAsync(Arg("--transactions", 100_000)));
if (scenario is "lag" or "all") results.AddRange(await bench.LagAsync(Arg("--rate", 500), TimeSpan.FromSeconds(Arg("--seconds", 10))));
if (scenario is "live" or "all") results.AddRange(await bench.LiveUpdatesAsync(Arg("--clients", 4), TimeSpan.FromSeconds(Arg("--seconds", 10) * 2)));
if (scenario is "bigtx" or "all") results.Add(await bench.BigTransactionAsync(Arg("--big-rows", 1_000_000)));
if (scenario is "bigrows" or "all") results.Add(await bench.BigRowsAsync(Arg("--huge-rows", 50), Arg("--mb", 20)));
// Last: it stops the two-node worker and adds a third server.
if (scenario is "mesh" or "all") results.AddRange(await bench.MeshTpcbAsync(Arg("--clients", 2), TimeSpan.FromSeconds(Arg("--seconds", 10) * 2)));
Report.Write(results, bench.Describe(), outDir);
