using Npgsql;
using PgMultiMaster.IntegrationTests.Harness;
using Xunit.Abstractions;

namespace PgMultiMaster.IntegrationTests;

/// <summary>
/// Passwords, passfiles and the access token never leave pgmm: not in its logs at any level, its output, its HTTP
/// endpoints or its errors, through the failures that produce the most text (<see cref="ProductionMesh"/>).
/// </summary>
[Collection(SecureServersCollection.Name)]
public sealed class SecretTests(SecureServersFixture servers, ITestOutputHelper output)
{
    [Fact]
    public async Task Passwords_passfiles_and_the_access_token_never_appear_in_logs_output_api_or_metrics()
    {
        const string token = "tok-Never-Shown-5d8e1b";
        const string wrongPassword = "wrong-Never-Shown-0c4f7a";
        await using var prod = await ProductionMesh.CreateAsync(servers, output, "CREATE TABLE public.t (id int PRIMARY KEY, v int NOT NULL);", nodes: 2,
            configure: o => o.Monitoring.AccessToken = token);
        var mesh = prod.Mesh;
        // east's password comes from a passfile, west's from the connection string.
        var east = new NpgsqlConnectionStringBuilder(mesh.Node("east").ConnectionString);
        var passfile = Path.Combine(prod.ConfigDir, "pgpass");
        await File.WriteAllTextAsync(passfile, $"{east.Host}:{east.Port}:{east.Database}:{east.Username}:{east.Password}\n");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(passfile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        east.Password = null;
        east.Passfile = passfile;
        mesh.Node("east").ConnectionString = east.ConnectionString;
        prod.WriteConfig();

        var seen = new List<(string Where, string Text)>();
        async Task Pgmm(params string[] args)
        {
            var (code, text) = await prod.PgmmAsync(args);
            seen.Add(($"pgmm {string.Join(' ', args)} (exit {code})", text));
        }
        await Pgmm("check");
        await Pgmm("init");
        await mesh.AdminExecAsync("west", "ALTER TABLE t ADD CONSTRAINT small CHECK (v < 1000) NOT VALID");
        string[] trace = ["--Logging:LogLevel:Default=Trace", "--Logging:LogLevel:Microsoft.AspNetCore=Trace"];
        var workers = mesh.NodeNames.ToDictionary(n => n, n => mesh.StartWorkerProcess(n, trace));
        var urls = new Dictionary<string, string>();
        foreach (var (node, worker) in workers) urls[node] = await worker.BaseUrlAsync();

        // Failures: a change west refuses (parked), west's server down for a while, a wrong token, a wrong password.
        await mesh.ExecAsync("east", "INSERT INTO t SELECT g, g * 100 FROM generate_series(1, 20) g");
        await Mesh.WaitUntilAsync(async () => await mesh.AdminScalarAsync<long>("west", "SELECT count(*) FROM pgmm.dead_letter") > 0, "a parked change on west");
        await servers["west"].StopAsync();
        await mesh.ExecAsync("east", "UPDATE t SET v = v + 1 WHERE id < 5");
        await Mesh.WaitUntilAsync(() => Task.FromResult(workers["east"].Output.Contains("Link east->west: ", StringComparison.Ordinal)
                                                         && workers["east"].Output.Contains("; retrying in ", StringComparison.Ordinal)), "east's link to fail");
        using var http = new HttpClient();
        async Task Get(string node, string path, string? bearer = null)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, urls[node] + path);
            if (bearer is not null) request.Headers.Authorization = new("Bearer", bearer);
            using var response = await http.SendAsync(request);
            seen.Add(($"GET {node}{path} ({(int)response.StatusCode})", await response.Content.ReadAsStringAsync()));
        }
        foreach (var node in mesh.NodeNames)
            foreach (var path in new[] { "/readyz", "/healthz", "/metrics", "/", "/dashboard.js", "/api/cluster" })
                await Get(node, path, token);
        await servers["west"].StartAsync();
        await mesh.WaitForCatchUpAsync();
        foreach (var node in mesh.NodeNames)
            foreach (var path in new[] { "/api/status", "/api/cluster", "/readyz", "/metrics" })
                await Get(node, path, token);
        await Get("east", "/api/cluster", "not-" + token);
        foreach (var args in new[] { ["status"], ["status", "--json"], ["diff"], ["conflicts"], ["dead-letter", "list"], new[] { "dead-letter", "show", "--on", "west", "--id", "1" } })
            await Pgmm(args);

        // A wrong password: check, and a worker whose link cannot log in.
        mesh.Node("west").ConnectionString = new NpgsqlConnectionStringBuilder(mesh.Node("west").ConnectionString) { Password = wrongPassword }.ConnectionString;
        prod.WriteConfig();
        await Pgmm("check");
        await mesh.StopWorkerProcessesAsync();
        var failing = mesh.StartWorkerProcess("east", trace);
        seen.Add(($"pgmm run --node east with a wrong password for west (exit {await failing.WaitForExitAsync(TimeSpan.FromSeconds(60))})", failing.Output));
        foreach (var (node, worker) in workers) seen.Add(($"pgmm run --node {node}", worker.Output));
        seen.Add(("pgmm.worker_status", await mesh.AdminScalarAsync<string>("east", "SELECT string_agg(status::text, ' ') FROM pgmm.worker_status")));

        var all = string.Join("\n", seen.Select(s => $"== {s.Where}\n{s.Text}"));
        // The run did meet the failures it is meant to.
        Assert.Contains("28P01", all);
        Assert.Contains("23514", all);
        Assert.Contains("access token required", all);
        foreach (var secret in new[] { ProductionMesh.Password, ProductionMesh.AppPassword, wrongPassword, token })
        {
            var leaks = seen.Where(s => s.Text.Contains(secret, StringComparison.Ordinal)).Select(s => s.Where).ToList();
            Assert.True(leaks.Count == 0, $"'{secret}' appears in: {string.Join("; ", leaks)}");
        }
    }
}
