using PgMultiMaster.Cli.CommandLine;

// pgmm VERB [--config PATH] [options]; PgmmCommandLine has the verbs.
// Exit codes: 0 success, 1 failure at run time (or nodes differ), 2 usage errors, bad configuration or unmet prerequisites.
using var cts = new CancellationTokenSource();
// Ours, not System.CommandLine's: run's host handles Ctrl-C and SIGTERM itself and needs its own shutdown time.
Console.CancelKeyPress += (_, e) => { e.Cancel = true; cts.Cancel(); };
return await PgmmCommandLine.RunAsync(args, Console.Out, Console.Error, cts.Token);
