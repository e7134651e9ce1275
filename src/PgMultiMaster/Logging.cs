using Microsoft.Extensions.Logging;

namespace PgMultiMaster.Cli;

internal static class Logging
{
    public static ILoggerFactory Console(LogLevel minimum = LogLevel.Information) =>
        LoggerFactory.Create(b => b.SetMinimumLevel(minimum)
            .AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; }));
}
