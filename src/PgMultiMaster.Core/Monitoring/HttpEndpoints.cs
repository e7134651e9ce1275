using System.Reflection;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using PgMultiMaster.Replication;

namespace PgMultiMaster.Monitoring;

/// <summary>
/// What a worker serves: probes, Prometheus metrics, its status and the cluster's as JSON, and the dashboard.
/// Read-only. With <c>Monitoring:AccessToken</c> set, the JSON API needs it as a Bearer header; probes, metrics and
/// the page's own files never do. With <c>Monitoring:ShowRowValues</c> false, the JSON carries no row values.
/// </summary>
public static class HttpEndpoints
{
    public static void Map(WebApplication app)
    {
        var monitor = app.Services.GetRequiredService<StatusMonitor>();
        var options = monitor.Topology.Options.Monitoring;
        var time = app.Services.GetRequiredService<TimeProvider>();
        var reader = new ClusterStatusReader(monitor.Topology, time);

        app.MapGet("/healthz", () => Results.Text("ok"));
        app.MapGet("/readyz", () =>
        {
            // The state is read once per link: it changes under our feet.
            var links = monitor.LinkStatuses.Select(s => (Status: s, s.State) is var x ? (x.Status, x.State, Reason: NotReady(x.Status, x.State, options)) : default).ToList();
            var ready = links.All(l => l.Reason is null);
            return Results.Json(new
            {
                ready,
                links = links.Select(l => new { source = l.Status.Source, target = l.Status.Target, state = LinkStatus.NameOf(l.State), reason = l.Reason }),
            }, StatusJson.Options, statusCode: ready ? 200 : 503);
        });
        app.MapPrometheusScrapingEndpoint("/metrics");

        var api = app.MapGroup("/api");
        if (!string.IsNullOrWhiteSpace(options.AccessToken))
            api.AddEndpointFilter(async (context, next) =>
            {
                if (HasToken(context.HttpContext.Request, options.AccessToken)) return await next(context).ConfigureAwait(false);
                context.HttpContext.Response.Headers.WWWAuthenticate = "Bearer";
                return Results.Json(new { error = "access token required: send it in the header Authorization: Bearer TOKEN (not as ?token=); the dashboard asks for it" }, statusCode: 401);
            });
        var nodeCache = new Cache<NodeStatus>(TimeSpan.FromSeconds(1), time, async () =>
        {
            var node = await reader.ReadNodeAsync(monitor.Topology.NodeNamed(monitor.Node), monitor.Links(), CancellationToken.None).ConfigureAwait(false);
            node = node with { History = monitor.History };
            return options.ShowRowValues ? node : RowValueHiding.Hide(node);
        });
        api.MapGet("/status", async () => Results.Json(await nodeCache.GetAsync().ConfigureAwait(false), StatusJson.Options));
        // Every open dashboard polls this: read the nodes at most once a second, whatever the number of viewers.
        var cache = new Cache<ClusterStatus>(TimeSpan.FromSeconds(1), time, async () =>
        {
            var status = await reader.ReadAsync(monitor.Node, n => n == monitor.Node ? monitor.Links() : null, CancellationToken.None).ConfigureAwait(false);
            var nodes = status.Nodes.Select(n => n.Node == monitor.Node ? n with { History = monitor.History } : n).ToList();
            status = status with { Nodes = nodes };
            return options.ShowRowValues ? status : RowValueHiding.Hide(status);
        });
        api.MapGet("/cluster", async () => Results.Json(await cache.GetAsync().ConfigureAwait(false), StatusJson.Options));

        app.MapGet("/", () => Asset("index.html", "text/html; charset=utf-8"));
        app.MapGet("/dashboard.js", () => Asset("dashboard.js", "text/javascript; charset=utf-8"));
        app.MapGet("/dashboard.css", () => Asset("dashboard.css", "text/css; charset=utf-8"));
    }

    /// <summary>Why a link is not ready, or null when it is streaming (or catching up) within the lag bounds.</summary>
    public static string? NotReady(LinkStatus s, LinkState state, Configuration.MonitoringOptions bounds)
    {
        if (state is not (LinkState.Streaming or LinkState.CatchingUp)) return $"link is {LinkStatus.NameOf(state)}" + (s.Problem(state) is { } why ? $": {why}" : "");
        if (s.Lag > bounds.MaxLag) return $"lag {s.Lag.Value.TotalSeconds:0.#} s exceeds Monitoring:MaxLag {bounds.MaxLag.TotalSeconds:0.#} s";
        if (s.LagBytes > bounds.MaxLagBytes) return $"lag {s.LagBytes} bytes exceeds Monitoring:MaxLagBytes {bounds.MaxLagBytes}";
        return null;
    }

    // Only from the header: a token in the URL ends up in access logs, proxies' logs and browser history.
    private static bool HasToken(HttpRequest request, string token)
    {
        var header = request.Headers.Authorization.ToString();
        var given = header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header[7..] : "";
        return System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(
            System.Text.Encoding.UTF8.GetBytes(given), System.Text.Encoding.UTF8.GetBytes(token));
    }

    private static readonly Assembly Self = typeof(HttpEndpoints).Assembly;

    private static IResult Asset(string name, string contentType)
    {
        var stream = Self.GetManifestResourceStream("dashboard/" + name);
        return stream is null ? Results.NotFound() : Results.Stream(stream, contentType);
    }

    /// <summary>The last status read, shared by concurrent requests and reused for <c>maxAge</c>.</summary>
    private sealed class Cache<T>(TimeSpan maxAge, TimeProvider time, Func<Task<T>> read)
    {
        private readonly Lock _lock = new();
        private Task<T>? _current;
        private long _startedAt;

        public Task<T> GetAsync()
        {
            lock (_lock)
            {
                // A read still running is shared too: a slow or unreachable node must not pile reads up.
                var fresh = _current is not null && !_current.IsFaulted
                            && (!_current.IsCompleted || time.GetElapsedTime(_startedAt) < maxAge);
                if (!fresh)
                {
                    _startedAt = time.GetTimestamp();
                    _current = read();
                }
                return _current!;
            }
        }
    }
}
