using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using PgMultiMaster.Charts;
using PgMultiMaster.IntegrationTests.Harness;
using Xunit.Abstractions;

namespace PgMultiMaster.IntegrationTests;

/// <summary>What an operator watches: /metrics, the probes, /api/status and `pgmm status`, against live worker processes.</summary>
[Collection(ServersCollection.Name)]
public sealed class MonitoringTests(ServersFixture servers, ITestOutputHelper output)
{
    [Fact]
    public async Task Metrics_and_status_tell_what_the_mesh_did_and_pgmm_status_names_a_stopped_worker()
    {
        await using var live = await LiveMesh.StartAsync(servers, output);
        var mesh = live.Mesh;
        await live.MakeConflictsAsync();
        for (var i = 100; i < 120; i++) await mesh.ExecAsync("east", "INSERT INTO public.accounts VALUES ($1, 'bulk', 0)", i);
        await mesh.ExecAsync("east", "UPDATE public.accounts SET balance = 5 WHERE id BETWEEN 100 AND 104");
        await mesh.WaitForCatchUpAsync();
        var parkedOnWest = await mesh.ScalarAsync<long>("west", "SELECT count(*) FROM pgmm.dead_letter");
        Assert.Equal(1, parkedOnWest);

        // The counters agree with what east's worker applied since it was (re)started by MakeConflictsAsync: the
        // update of account 1 it had not sent yet, then 20 inserts and 5 updates.
        List<(string Name, Dictionary<string, string> Labels, double Value)> samples = [];
        double Value(string name, params (string Key, string Value)[] labels) =>
            samples.Where(s => s.Name == name && labels.All(l => s.Labels.GetValueOrDefault(l.Key) == l.Value)).Sum(s => s.Value);
        samples = LiveMesh.ParseMetrics(await live.GetAsync("east", "/metrics"));
        Assert.Equal(20, Value("pgmm_rows_applied_total", ("source", "east"), ("target", "north"), ("table", "public.accounts"), ("operation", "insert")));
        Assert.Equal(6, Value("pgmm_rows_applied_total", ("source", "east"), ("target", "north"), ("table", "public.accounts"), ("operation", "update")));
        Assert.Equal(1, Value("pgmm_rows_applied_total", ("source", "east"), ("target", "north"), ("table", "public.parked"), ("operation", "update")));
        Assert.Equal(23, Value("pgmm_transactions_applied_total", ("source", "east"), ("target", "north")));
        Assert.Equal(1, Value("pgmm_link_state", ("source", "east"), ("target", "west"), ("state", "streaming")));
        Assert.Equal(0, Value("pgmm_link_state", ("source", "east"), ("target", "west"), ("state", "down")));
        // East's older update met west's newer one on west: resolved there, counted by east's worker under node="west".
        Assert.Equal(1, Value("pgmm_conflicts_total", ("node", "west"), ("source", "east"), ("table", "public.accounts"), ("type", "update_origin_differs"), ("resolution", "keep_local")));
        Assert.Equal(1, Value("pgmm_conflicts_total", ("node", "west"), ("source", "east"), ("table", "public.parked"), ("resolution", "dead_letter")));
        Assert.True(Value("pgmm_apply_duration_seconds_count", ("source", "east"), ("target", "west")) >= 1);

        // West's own gauges, polled from its tables.
        await Mesh.WaitUntilAsync(async () =>
        {
            var west = LiveMesh.ParseMetrics(await live.GetAsync("west", "/metrics"));
            return west.Any(s => s.Name == "pgmm_dead_letters" && s.Labels["node"] == "west" && s.Value == parkedOnWest);
        }, "west's dead-letter gauge to show the parked change");

        // Every metric the Grafana dashboard queries is exported, and every exported pgmm_ metric is documented.
        var exported = samples.Select(s => Regex.Replace(s.Name, "_(bucket|sum|count)$", "")).Where(n => n.StartsWith("pgmm_", StringComparison.Ordinal)).ToHashSet();
        var queried = DashboardQueries.MetricNames();
        Assert.NotEmpty(queried);
        var missing = queried.Except(exported).ToList();
        Assert.True(missing.Count == 0, "the Grafana dashboard queries metrics the worker does not export: " + string.Join(", ", missing));
        var readme = await File.ReadAllTextAsync(Path.Combine(DashboardQueries.RepoRoot(), "docs", "monitoring.md"));
        var undocumented = exported.Where(n => !readme.Contains($"`{n}`", StringComparison.Ordinal)).ToList();
        Assert.True(undocumented.Count == 0, "not in docs/monitoring.md's metric table: " + string.Join(", ", undocumented));
        // The .NET runtime's metrics docs/monitoring.md names are exported too.
        var runtime = Regex.Matches(readme, "`(dotnet_[a-z_]+)`").Select(m => m.Groups[1].Value).ToList();
        Assert.NotEmpty(runtime);
        var names = samples.Select(s => s.Name).ToHashSet();
        Assert.True(runtime.All(names.Contains), "docs/monitoring.md names runtime metrics the worker does not export: " + string.Join(", ", runtime.Where(n => !names.Contains(n))));

        // /api/status: the node, its links, the conflict with both rows, the parked change with its reason.
        var status = await live.GetJsonAsync("west", "/api/status");
        Assert.Equal("west", status.GetProperty("node").GetString());
        Assert.All(status.GetProperty("links").EnumerateArray(), l => Assert.Equal("streaming", l.GetProperty("state").GetString()));
        var conflict = status.GetProperty("recentConflicts").EnumerateArray().Single(c => c.GetProperty("table").GetString() == "public.accounts");
        Assert.Equal("update_origin_differs", conflict.GetProperty("type").GetString());
        Assert.Equal(120, conflict.GetProperty("localRow").GetProperty("balance").GetDecimal());
        Assert.Equal(99, conflict.GetProperty("remoteRow").GetProperty("balance").GetDecimal());
        var parked = status.GetProperty("recentDeadLetters").EnumerateArray().Single();
        Assert.Equal("public.parked", parked.GetProperty("table").GetString());
        Assert.Contains("parked by rule", parked.GetProperty("reason").GetString());
        Assert.Equal(parkedOnWest, status.GetProperty("deadLetters").GetInt64());

        // pgmm status: every link streaming, exit 0.
        var dir = PgmmCli.ConfigDir(mesh);
        var (code, text) = await PgmmCli.RunAsync(dir, "status");
        output.WriteLine(text);
        Assert.True(code == 0, text);
        Assert.Matches(@"east -> west\s*\|\s*streaming", text);
        Assert.Contains("All links are streaming", text);

        // A worker killed outright: its report goes stale, status says its links are down and exits 1.
        live.Workers["north"].Kill();
        await Mesh.WaitUntilAsync(async () => (await PgmmCli.RunAsync(dir, "status")).Code == 1, "pgmm status to notice north's worker is gone", TimeSpan.FromSeconds(40));
        (code, text) = await PgmmCli.RunAsync(dir, "status");
        output.WriteLine(text);
        Assert.Equal(1, code);
        Assert.Matches(@"north\s*\|\s*down", text);
        Assert.Matches(@"north -> east\s*\|\s*down", text);
        Assert.Contains("problem: north -> west: down: the worker of north last reported at", text);
        Assert.DoesNotContain("problem: east ->", text);

        // The JSON form, for scripts.
        (code, text) = await PgmmCli.RunAsync(dir, "status", "--json");
        Assert.Equal(1, code);
        var json = JsonDocument.Parse(text).RootElement;
        Assert.Equal("down", json.GetProperty("nodes").EnumerateArray().Single(n => n.GetProperty("node").GetString() == "north").GetProperty("worker").GetString());
    }

    [Fact]
    public async Task A_worker_whose_links_cannot_stream_is_alive_but_not_ready()
    {
        // No init: the slots do not exist, so both links back off.
        await using var mesh = await Mesh.CreateAsync(servers, output, LiveMesh.Schema, nodes: 2, init: false);
        var worker = mesh.StartWorkerProcess("east");
        var url = await worker.BaseUrlAsync();
        using var http = new HttpClient();
        Assert.Equal("ok", await http.GetStringAsync(url + "/healthz"));
        HttpResponseMessage ready = null!;
        await Mesh.WaitUntilAsync(async () => (ready = await http.GetAsync(url + "/readyz")).StatusCode == HttpStatusCode.ServiceUnavailable
                                              && (await ready.Content.ReadAsStringAsync()).Contains("backing_off", StringComparison.Ordinal),
            "readyz to report the link backing off");
        var body = JsonDocument.Parse(await ready.Content.ReadAsStringAsync()).RootElement;
        Assert.False(body.GetProperty("ready").GetBoolean());
        var link = body.GetProperty("links").EnumerateArray().Single();
        Assert.Equal("west", link.GetProperty("target").GetString());
        Assert.Contains("link is backing_off", link.GetProperty("reason").GetString());

        var metrics = LiveMesh.ParseMetrics(await http.GetStringAsync(url + "/metrics"));
        Assert.Contains(metrics, s => s.Name == "pgmm_link_retries_total" && s.Value >= 1);

        // pgmm status names the cause on every node and fails.
        var (code, text) = await PgmmCli.RunAsync(PgmmCli.ConfigDir(mesh), "status");
        output.WriteLine(text);
        Assert.Equal(1, code);
        Assert.Contains("node west has no pgmm catalog", text);
        Assert.Contains("run pgmm init", text);
    }

    [Fact]
    public async Task The_api_takes_the_access_token_only_as_a_bearer_header_and_probes_metrics_and_the_page_need_none()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output, LiveMesh.Schema, nodes: 2, configure: o => o.Monitoring.AccessToken = "s3cret");
        await mesh.StartWorkerAsync("east");
        var url = mesh.BaseUrl("east");
        using var http = new HttpClient();
        Task<HttpResponseMessage> Get(string path, string? bearer = null)
        {
            var request = new HttpRequestMessage(HttpMethod.Get, url + path);
            if (bearer is not null) request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", bearer);
            return http.SendAsync(request);
        }

        var refused = await Get("/api/status");
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.Equal("Bearer", refused.Headers.WwwAuthenticate.Single().Scheme);
        Assert.Contains("Authorization: Bearer TOKEN", await refused.Content.ReadAsStringAsync());
        // In a URL the token would land in access logs and browser history: the query is not a way in any more.
        Assert.Equal(HttpStatusCode.Unauthorized, (await Get("/api/cluster?token=s3cret")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Get("/api/status?token=s3cret")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Get("/api/status", "wrong")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Get("/api/status", "s3cret")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Get("/api/cluster", "s3cret")).StatusCode);

        Assert.Equal(HttpStatusCode.OK, (await Get("/metrics")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Get("/healthz")).StatusCode);
        Assert.NotEqual(HttpStatusCode.Unauthorized, (await Get("/readyz")).StatusCode);
        // The page and its files load; the page asks for the token when the API refuses.
        Assert.Contains("dashboard.js", await (await Get("/")).Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.OK, (await Get("/dashboard.js")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Get("/dashboard.css")).StatusCode);
    }

    [Fact]
    public async Task A_value_the_target_refuses_shows_on_the_api_by_its_sqlstate_and_in_full_only_in_the_dead_letter_row()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output, "CREATE TABLE public.t (id int PRIMARY KEY, v text);", nodes: 2);
        // West's column takes integers only: east's text fails there with 22P02, whose message quotes the value.
        await mesh.ExecAsync("west", "ALTER TABLE t ALTER COLUMN v TYPE int USING v::int");
        await mesh.StartAllWorkersAsync();
        await mesh.ExecAsync("east", "INSERT INTO t VALUES (1, 'secret-77')");
        await Mesh.WaitUntilAsync(async () => await mesh.ScalarAsync<long>("west", "SELECT count(*) FROM pgmm.dead_letter WHERE last_error IS NOT NULL") == 1,
            "west to park the change and retry it once");
        // Where the data already is, the error is whole.
        Assert.Contains("secret-77", await mesh.ScalarAsync<string>("west", "SELECT reason FROM pgmm.dead_letter"));
        Assert.Contains("secret-77", await mesh.ScalarAsync<string>("west", "SELECT last_error FROM pgmm.dead_letter"));

        // The link east -> west, as its worker's API and its published status (what pgmm status reads) tell it.
        using var http = new HttpClient();
        var status = await http.GetStringAsync(mesh.BaseUrl("east") + "/api/status");
        output.WriteLine(status);
        var link = JsonDocument.Parse(status).RootElement.GetProperty("links").EnumerateArray().Single(l => l.GetProperty("target").GetString() == "west");
        Assert.Equal("22P02 (invalid_text_representation)", link.GetProperty("lastError").GetString());
        Assert.DoesNotContain("secret-77", status);
        string published = "";
        await Mesh.WaitUntilAsync(async () => (published = await mesh.ScalarAsync<string>("east", "SELECT coalesce((SELECT status::text FROM pgmm.worker_status WHERE node = 'east'), '')"))
            .Contains("22P02 (invalid_text_representation)", StringComparison.Ordinal), "east's worker to publish the link's error");
        Assert.DoesNotContain("secret-77", published);
    }
}
