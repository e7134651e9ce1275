using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using PgMultiMaster.Configuration;

namespace PgMultiMaster.IntegrationTests.Harness;

/// <summary>
/// A 3-node mesh with a real <c>pgmm run</c> process beside every node, and one conflict of each kind made on purpose:
/// <c>public.accounts</c> (last writer wins) and <c>public.parked</c> (rule: dead letter). For the monitoring tests.
/// </summary>
public sealed partial class LiveMesh : IAsyncDisposable
{
    public const string Schema = """
        CREATE TABLE public.accounts (id int PRIMARY KEY, owner text NOT NULL, balance numeric NOT NULL);
        CREATE TABLE public.parked (id int PRIMARY KEY, v text);
        """;

    public Mesh Mesh { get; }
    public Dictionary<string, WorkerProcess> Workers { get; } = [];
    public Dictionary<string, string> Urls { get; } = [];
    public HttpClient Http { get; } = new() { Timeout = TimeSpan.FromSeconds(30) };

    private LiveMesh(Mesh mesh) => Mesh = mesh;

    public static async Task<LiveMesh> StartAsync(ServersFixture servers, Xunit.Abstractions.ITestOutputHelper output, Action<PgMultiMasterOptions>? configure = null)
    {
        var mesh = await Mesh.CreateAsync(servers, output, Schema, configure: o =>
        {
            o.Conflicts.Tables["public.parked"] = new TableConflictRule { Strategy = "DeadLetter" };
            configure?.Invoke(o);
        });
        var live = new LiveMesh(mesh);
        foreach (var node in mesh.NodeNames) await live.StartWorkerAsync(node);
        return live;
    }

    public async Task StartWorkerAsync(string node)
    {
        Workers[node] = Mesh.StartWorkerProcess(node);
        Urls[node] = await Workers[node].BaseUrlAsync();
        await Mesh.WaitUntilAsync(async () => (await Http.GetAsync($"{Urls[node]}/readyz")).StatusCode == HttpStatusCode.OK, $"{node}'s worker ready");
    }

    /// <summary>
    /// Both conflicts, made deterministic: with east's and west's workers stopped, east updates the rows, then west.
    /// When the workers return, east's older change meets west's newer one on west — a conflict there, found by
    /// east's link — while west's newer change simply applies on east.
    /// </summary>
    public async Task MakeConflictsAsync()
    {
        await Mesh.ExecAsync("east", "INSERT INTO public.accounts VALUES (1, 'alice', 100)");
        await Mesh.ExecAsync("east", "INSERT INTO public.parked VALUES (1, 'first')");
        await Mesh.WaitForCatchUpAsync();
        foreach (var node in new[] { "east", "west" })
            Assert.Equal(0, await Workers[node].TerminateAsync(TimeSpan.FromSeconds(30)));
        await Mesh.ExecAsync("east", "UPDATE public.accounts SET balance = 99 WHERE id = 1");
        await Mesh.ExecAsync("east", "UPDATE public.parked SET v = 'east' WHERE id = 1");
        await Mesh.ExecAsync("west", "UPDATE public.accounts SET balance = 120 WHERE id = 1");
        await Mesh.ExecAsync("west", "UPDATE public.parked SET v = 'west' WHERE id = 1");
        foreach (var node in new[] { "east", "west" }) await StartWorkerAsync(node);
        await Mesh.WaitForCatchUpAsync();
    }

    public async Task<string> GetAsync(string node, string path) => await Http.GetStringAsync(Urls[node] + path);

    public async Task<JsonElement> GetJsonAsync(string node, string path) =>
        JsonDocument.Parse(await GetAsync(node, path)).RootElement.Clone();

    /// <summary>The samples of a Prometheus text exposition: name, labels, value.</summary>
    public static List<(string Name, Dictionary<string, string> Labels, double Value)> ParseMetrics(string text)
    {
        var samples = new List<(string, Dictionary<string, string>, double)>();
        foreach (var line in text.Split('\n'))
        {
            var m = Sample().Match(line);
            if (!m.Success) continue;
            var labels = Label().Matches(m.Groups[2].Value).ToDictionary(l => l.Groups[1].Value, l => Regex.Unescape(l.Groups[2].Value));
            samples.Add((m.Groups[1].Value, labels, double.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture)));
        }
        return samples;
    }

    [GeneratedRegex(@"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)")]
    private static partial Regex Sample();

    [GeneratedRegex(@"([a-zA-Z_][a-zA-Z0-9_]*)=""((?:[^""\\]|\\.)*)""")]
    private static partial Regex Label();

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await Mesh.DisposeAsync();
    }
}
