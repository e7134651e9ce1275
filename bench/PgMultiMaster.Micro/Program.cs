using BenchmarkDotNet.Running;

// In-process hot paths, with allocations: dotnet run -c Release --project bench/PgMultiMaster.Micro -- --filter '*'
BenchmarkSwitcher.FromAssembly(typeof(PgMultiMaster.Micro.HotPaths).Assembly).Run(args);
