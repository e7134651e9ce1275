using PgMultiMaster.Cli;
using PgMultiMaster.Cli.Commands;

// pgmm VERB [--config PATH] [--node NAME] [options]
// Exit codes: 0 success, 1 failure at run time (or nodes differ), 2 bad configuration or unmet prerequisites.
var verb = args.Length > 0 && !args[0].StartsWith('-') ? args[0] : "help";
var rest = args.Length > 0 && !args[0].StartsWith('-') ? args[1..] : args;
using var cts = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) => { e.Cancel = true; cts.Cancel(); };

try
{
    return verb switch
    {
        "init" => await InitCommand.RunAsync(CliArgs.Parse(rest), cts.Token),
        "check" => await CheckCommand.RunAsync(CliArgs.Parse(rest), cts.Token),
        "run" => await RunCommand.RunAsync(CliArgs.Parse(rest)),
        "diff" => await DiffCommand.RunAsync(CliArgs.Parse(rest), cts.Token),
        "uninstall" => await UninstallCommand.RunAsync(CliArgs.Parse(rest), cts.Token),
        "demo" => await DemoCommand.RunAsync(CliArgs.Parse(rest), cts.Token),
        "status" => await StatusCommand.RunAsync(CliArgs.Parse(rest), cts.Token),
        "conflicts" => await ConflictsCommand.RunAsync(CliArgs.Parse(rest), cts.Token),
        "dead-letter" => await DeadLetterCommand.RunAsync(rest.FirstOrDefault() ?? "list", CliArgs.Parse(rest.Skip(1).ToArray()), cts.Token),
        "help" or "--help" or "-h" => Usage.Print(Console.Out, 0),
        _ => Usage.Print(Console.Error, 2, $"unknown verb '{verb}'"),
    };
}
catch (CliException e)
{
    await Console.Error.WriteLineAsync($"pgmm {verb}: {e.Message}");
    return e.ExitCode;
}
catch (Exception e) when (e is Npgsql.NpgsqlException or TimeoutException or IOException)
{
    await Console.Error.WriteLineAsync($"pgmm {verb}: {e.Message}");
    return 1;
}
catch (OperationCanceledException) when (cts.IsCancellationRequested)
{
    await Console.Error.WriteLineAsync($"pgmm {verb}: cancelled");
    return 130;
}
