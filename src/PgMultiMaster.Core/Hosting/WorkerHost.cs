using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using PgMultiMaster.Configuration;

namespace PgMultiMaster.Hosting;

/// <summary>Builds the Generic Host of <c>pgmm run</c>: validated options, console logging, the node worker.</summary>
public static class WorkerHost
{
    public static IHost Build(IConfiguration configuration, Action<ILoggingBuilder>? logging = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddConfiguration(configuration);
        builder.Logging.AddConfiguration(configuration.GetSection("Logging"));
        if (logging is null) builder.Logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss.fff "; });
        else logging(builder.Logging);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(20));
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddOptions<PgMultiMasterOptions>()
            .Bind(configuration.GetSection(PgMultiMasterOptions.SectionName))
            .ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<PgMultiMasterOptions>, RunOptionsValidation>();
        builder.Services.AddSingleton<NodeWorker>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<NodeWorker>());
        return builder.Build();
    }

    /// <summary>Builds a host from options already in memory (tests, the demo).</summary>
    public static IHost Build(PgMultiMasterOptions options, Action<ILoggingBuilder>? logging = null) =>
        Build(new ConfigurationBuilder()
            .AddJsonStream(new MemoryStream(System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(new { PgMultiMaster = options })))
            .Build(), logging);

    private sealed class RunOptionsValidation : IValidateOptions<PgMultiMasterOptions>
    {
        public ValidateOptionsResult Validate(string? name, PgMultiMasterOptions options)
        {
            var errors = OptionsValidator.Validate(options, requireNode: true);
            return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
        }
    }
}
