using System.Text.RegularExpressions;
using PgMultiMaster.Configuration;

namespace PgMultiMaster.Tests.Charts;

/// <summary>
/// The chart renders appsettings.json itself (pgmm.appsettings): every Monitoring key it writes must be one the worker
/// binds, or the setting is silently lost (a misspelt AllowAnonymous would leave every worker refusing to start).
/// </summary>
public sealed partial class AppSettingsTemplateTests
{
    [GeneratedRegex("\"([A-Za-z]+)\"")]
    private static partial Regex Quoted();

    [Fact]
    public void Every_monitoring_key_the_chart_writes_is_an_option_of_the_worker()
    {
        var template = ChartFiles.Helper("pgmm.appsettings");
        var lines = template.Split('\n').Where(l => l.Contains("$monitoring", StringComparison.Ordinal) && !l.Contains("$pgmm \"Monitoring\"", StringComparison.Ordinal));
        var keys = lines.SelectMany(l => Quoted().Matches(l).Select(m => m.Groups[1].Value)).Distinct().ToList();
        Assert.Contains("AllowAnonymous", keys);
        Assert.Contains("ShowRowValues", keys);
        Assert.Contains("Urls", keys);
        var options = typeof(MonitoringOptions).GetProperties().Select(p => p.Name).ToHashSet();
        Assert.DoesNotContain(keys, k => !options.Contains(k));
    }
}
