using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using PgMultiMaster.Hosting;

namespace PgMultiMaster.Cli.Commands;

internal static class RunCommand
{
    public static async Task<int> RunAsync(CliConfiguration configuration)
    {
        // Validate here too, so a bad file gets the same one-line errors as every other verb.
        configuration.LoadOptions(requireNode: true);
        using var host = WorkerHost.Build(configuration.LoadConfiguration());
        try
        {
            // The host handles Ctrl-C and SIGTERM: links stop, open target transactions roll back.
            var worker = host.Services.GetRequiredService<NodeWorker>();
            await host.RunAsync();
            if (worker.Failed)
                throw new CliException("every link stopped for good; see the errors above.", 1);
            return 0;
        }
        catch (OptionsValidationException e)
        {
            throw new CliException(string.Join(Environment.NewLine, e.Failures));
        }
        catch (IOException e) when (e.InnerException is Microsoft.AspNetCore.Connections.AddressInUseException)
        {
            throw new CliException($"{e.Message} Set PgMultiMaster:Monitoring:Urls to a free port, or to \"\" for no HTTP.", 1);
        }
    }
}
