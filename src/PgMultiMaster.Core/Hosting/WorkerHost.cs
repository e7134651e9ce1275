using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using PgMultiMaster.Configuration;
using PgMultiMaster.Diagnostics;
using PgMultiMaster.Monitoring;

namespace PgMultiMaster.Hosting;

/// <summary>
/// Builds the host of <c>pgmm run</c>: validated options, console logging, the node worker, and — unless
/// <c>Monitoring:Urls</c> is empty — the HTTP endpoints (metrics, probes, status, dashboard) on Kestrel.
/// </summary>
public static class WorkerHost
{
    public static IHost Build(IConfiguration configuration, Action<ILoggingBuilder>? logging = null)
    {
        var monitoring = new MonitoringOptions();
        configuration.GetSection($"{PgMultiMasterOptions.SectionName}:Monitoring").Bind(monitoring);
        if (string.IsNullOrWhiteSpace(monitoring.Urls))
        {
            var plain = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
            AddWorker(plain.Services, plain.Logging, plain.Configuration, configuration, logging);
            return plain.Build();
        }

        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        AddWorker(builder.Services, builder.Logging, builder.Configuration, configuration, logging);
        // Kestrel's per-request logs are noise in a worker's log.
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.WebHost.UseKestrelCore().UseUrls(monitoring.Urls);
        builder.Services.AddRoutingCore();
        builder.Services.AddSingleton<PgmmMetrics>();
        // System.Runtime: the runtime's own meter (GC collections and pause time, thread pool, CPU, memory), so a lag
        // spike can be told apart from a pause of the worker.
        builder.Services.AddOpenTelemetry().WithMetrics(m => m.AddMeter(PgmmMetrics.MeterName, "System.Runtime").AddPrometheusExporter());

        var app = builder.Build();
        app.Services.GetRequiredService<PgmmMetrics>(); // its instruments exist from the start
        app.UseRouting();
        HttpEndpoints.Map(app);
        app.Lifetime.ApplicationStarted.Register(() =>
            Log.Serving(app.Logger, string.Join(", ", app.Urls)));
        return app;
    }

    private static void AddWorker(IServiceCollection services, ILoggingBuilder loggingBuilder, IConfigurationManager config,
        IConfiguration configuration, Action<ILoggingBuilder>? logging)
    {
        config.AddConfiguration(configuration);
        loggingBuilder.AddConfiguration(configuration.GetSection("Logging"));
        if (logging is null) loggingBuilder.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss.fff "; });
        else logging(loggingBuilder);
        services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(20));
        services.AddSingleton(TimeProvider.System);
        services.AddOptions<PgMultiMasterOptions>()
            .Bind(configuration.GetSection(PgMultiMasterOptions.SectionName))
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<PgMultiMasterOptions>>(new RunOptionsValidation(configuration));
        services.AddSingleton<NodeWorker>();
        services.AddHostedService(sp => sp.GetRequiredService<NodeWorker>());
        // What the HTTP endpoints and the metrics read: the worker's links as its monitor sees them.
        services.AddSingleton(sp => sp.GetRequiredService<NodeWorker>().Monitor);
    }

    /// <summary>Builds a host from options already in memory (tests, the demo).</summary>
    public static IHost Build(PgMultiMasterOptions options, Action<ILoggingBuilder>? logging = null) =>
        Build(new ConfigurationBuilder()
            .AddJsonStream(new MemoryStream(System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(new { PgMultiMaster = options })))
            .Build(), logging);

    /// <summary>The options as <c>pgmm run</c> needs them, and no key in the section that binds to nothing.</summary>
    private sealed class RunOptionsValidation(IConfiguration configuration) : IValidateOptions<PgMultiMasterOptions>
    {
        public ValidateOptionsResult Validate(string? name, PgMultiMasterOptions options)
        {
            var errors = SettingKeys.Unknown(configuration).Concat(OptionsValidator.Validate(options, requireNode: true)).ToList();
            return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
        }
    }
}
