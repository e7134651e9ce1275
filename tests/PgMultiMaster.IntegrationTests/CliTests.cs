using PgMultiMaster.Configuration;
using Npgsql;
using System.Text.Json;
using PgMultiMaster.IntegrationTests.Harness;
using Xunit.Abstractions;

namespace PgMultiMaster.IntegrationTests;

/// <summary>The pgmm executable as an operator runs it: exit codes and messages.</summary>
[Collection(ServersCollection.Name)]
public sealed class CliTests(ServersFixture servers, ITestOutputHelper output)
{
    private static Task<(int Code, string Output)> Pgmm(string workingDir, params string[] args) => PgmmCli.RunAsync(workingDir, args);

    private static string TempDir()
    {
        var dir = Path.Combine(Path.GetTempPath(), "pgmm-cli-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        return dir;
    }

    [Fact]
    public async Task Bad_configuration_is_refused_with_exit_code_2_naming_the_key()
    {
        var dir = TempDir();
        await File.WriteAllTextAsync(Path.Combine(dir, "appsettings.json"), """
            { "PgMultiMaster": { "Nodes": [ { "Name": "East!", "ConnectionString": "Host=x" }, { "Name": "west", "ConnectionString": "" } ],
                                 "Tables": [ "nodot" ], "Apply": { "BatchSize": 0, "BatchSise": 200 },
                                 "Conflicts": { "Tables": { "public.t": { "Stratgy": "KeepLocal" } } } } }
            """);
        var (code, text) = await Pgmm(dir, "run", "--node", "north");
        Assert.Equal(2, code);
        Assert.Contains("PgMultiMaster:Nodes:0:Name 'East!' must be", text);
        Assert.Contains("PgMultiMaster:Nodes:1:ConnectionString is empty for node 'west'", text);
        Assert.Contains("PgMultiMaster:Node 'north' is not one of PgMultiMaster:Nodes", text);
        Assert.Contains("PgMultiMaster:Tables:0 'nodot' must be schema.table", text);
        Assert.Contains("PgMultiMaster:Apply:BatchSize 0 must be between 1 and 10000", text);
        Assert.Contains("PgMultiMaster:Apply:BatchSise is not a setting; did you mean PgMultiMaster:Apply:BatchSize?", text);
        Assert.Contains("PgMultiMaster:Conflicts:Tables:public.t:Stratgy is not a setting; did you mean PgMultiMaster:Conflicts:Tables:public.t:Strategy?", text);
    }

    [Fact]
    public async Task Misspelt_flags_and_settings_are_refused_with_exit_code_2_naming_the_nearest()
    {
        var dir = TempDir();
        await File.WriteAllTextAsync(Path.Combine(dir, "appsettings.json"), """
            { "PgMultiMaster": { "Nodes": [ { "Name": "east", "ConnectionString": "Host=127.0.0.1;Port=1" }, { "Name": "west", "ConnectionString": "Host=127.0.0.1;Port=2" } ],
                                 "Tables": [ "public.*" ] } }
            """);
        var (code, text) = await Pgmm(dir, "status", "--nod", "east", "--limt", "5");
        Assert.Equal(2, code);
        Assert.Contains("pgmm status: unknown option '--nod'; did you mean '--node'?", text);

        (code, text) = await Pgmm(dir, "status", "--PgMultiMaster:Monitoring:MaxLagByte=5");
        Assert.Equal(2, code);
        Assert.Contains("PgMultiMaster:Monitoring:MaxLagByte is not a setting; did you mean PgMultiMaster:Monitoring:MaxLagBytes?", text);

        (code, text) = await Pgmm(dir, "status", "--help");
        Assert.Equal(0, code);
        Assert.Contains("--json", text);
    }

    [Fact]
    public async Task A_taken_http_port_stops_the_worker_with_a_message_naming_the_setting()
    {
        using var taken = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        taken.Start();
        var port = ((System.Net.IPEndPoint)taken.LocalEndpoint).Port;
        var dir = TempDir();
        await File.WriteAllTextAsync(Path.Combine(dir, "appsettings.json"), $$"""
            { "PgMultiMaster": { "Nodes": [ { "Name": "east", "ConnectionString": "Host=127.0.0.1;Port=1" }, { "Name": "west", "ConnectionString": "Host=127.0.0.1;Port=2" } ],
                                 "Tables": [ "public.*" ], "Monitoring": { "Urls": "http://127.0.0.1:{{port}}" } } }
            """);
        var (code, text) = await Pgmm(dir, "run", "--node", "east");
        Assert.Equal(1, code);
        Assert.Contains($"pgmm run: Failed to bind to address http://127.0.0.1:{port}", text);
        Assert.Contains("Set PgMultiMaster:Monitoring:Urls to a free port", text);
    }

    [Fact]
    public async Task A_worker_serving_beyond_loopback_needs_an_access_token_unless_anonymous_access_is_allowed()
    {
        var dir = TempDir();
        var config = Path.Combine(dir, "appsettings.json");
        await File.WriteAllTextAsync(config, """
            { "PgMultiMaster": { "Nodes": [ { "Name": "east", "ConnectionString": "Host=127.0.0.1;Port=1" }, { "Name": "west", "ConnectionString": "Host=127.0.0.1;Port=2" } ],
                                 "Tables": [ "public.*" ], "Monitoring": { "Urls": "http://0.0.0.0:0" } } }
            """);
        var (code, text) = await Pgmm(dir, "run", "--node", "east");
        output.WriteLine(text);
        Assert.Equal(2, code);
        Assert.Contains("PgMultiMaster:Monitoring:AccessToken must be set: PgMultiMaster:Monitoring:Urls 'http://0.0.0.0:0'", text);
        Assert.Contains("PgMultiMaster:Monitoring:AllowAnonymous: true", text);

        // Opted out (here on the command line): the worker starts and serves on every interface.
        await using var worker = WorkerProcess.Start(config, "east", "--PgMultiMaster:Monitoring:AllowAnonymous=true");
        var url = await worker.BaseUrlAsync();
        Assert.StartsWith("http://0.0.0.0:", url, StringComparison.Ordinal);
        using var http = new HttpClient();
        Assert.Equal("ok", await http.GetStringAsync(url.Replace("0.0.0.0", "127.0.0.1", StringComparison.Ordinal) + "/healthz"));
        Assert.False(worker.HasExited, worker.Output);
    }

    [Fact]
    public async Task Invalid_json_and_a_missing_config_file_are_named()
    {
        var dir = TempDir();
        await File.WriteAllTextAsync(Path.Combine(dir, "broken.json"), "{ \"PgMultiMaster\": { \"Nodes\": [ }");
        var (code, text) = await Pgmm(dir, "init", "--config", "broken.json");
        Assert.Equal(2, code);
        Assert.Contains("broken.json' is not valid JSON", text);

        (code, text) = await Pgmm(dir, "init", "--config", "nope.json");
        Assert.Equal(2, code);
        Assert.Contains("nope.json' does not exist", text);
    }

    [Fact]
    public async Task Init_check_and_diff_work_from_the_command_line()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output, "CREATE TABLE public.t (id int PRIMARY KEY, v text);", nodes: 2, init: false);
        var dir = TempDir();
        await File.WriteAllTextAsync(Path.Combine(dir, "appsettings.json"), JsonSerializer.Serialize(new { PgMultiMaster = mesh.Options }));

        var (code, text) = await Pgmm(dir, "check");
        Assert.True(code == 0, text);
        Assert.Contains("\"public\".\"t\"", text);

        (code, text) = await Pgmm(dir, "init");
        Assert.True(code == 0, text);
        Assert.Contains("is ready: 2 nodes, 1 tables", text);

        await mesh.ExecAsync("east", "INSERT INTO t VALUES (1, 'only on east')");
        (code, text) = await Pgmm(dir, "diff");
        Assert.Equal(1, code);
        Assert.Contains("The nodes differ.", text);

        await mesh.StartAllWorkersAsync();
        await mesh.WaitForCatchUpAsync();
        (code, text) = await Pgmm(dir, "diff");
        Assert.True(code == 0, text);
        Assert.Contains("All 2 nodes match.", text);

        // A column added on west alone (as replica: not captured as a schema change to replicate) is drift, rows or not.
        await mesh.AdminExecAsync("west", "SET session_replication_role = replica; ALTER TABLE t ADD COLUMN note text; RESET session_replication_role");
        (code, text) = await Pgmm(dir, "diff");
        Assert.Equal(1, code);
        Assert.Contains("| NO (schema)", text);
        Assert.Contains("public.t: the definition differs between nodes", text);
        Assert.Contains("  column note: east (missing); west text", text);
        Assert.Contains("The nodes differ.", text);
    }

    [Fact]
    public async Task Uninstall_removes_slots_origins_publications_and_triggers()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output, "CREATE TABLE public.t (id int PRIMARY KEY);", nodes: 2);
        var dir = PgmmCli.ConfigDir(mesh);
        var (code, text) = await Pgmm(dir, "uninstall");
        Assert.Equal(2, code);
        Assert.Contains("add --yes", text);

        (code, text) = await Pgmm(dir, "uninstall", "--yes");
        Assert.True(code == 0, text);
        foreach (var node in mesh.NodeNames)
        {
            Assert.Equal(0L, await mesh.ScalarAsync<long>(node, "SELECT count(*) FROM pg_replication_slots WHERE database = current_database()"));
            Assert.Equal(0L, await mesh.ScalarAsync<long>(node, "SELECT count(*) FROM pg_publication"));
            Assert.Equal(0L, await mesh.ScalarAsync<long>(node, "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'pgmm%'"));
            Assert.Equal(0L, await mesh.ScalarAsync<long>(node, "SELECT count(*) FROM pg_replication_origin WHERE roname LIKE $1", mesh.Options.Cluster + "\\_%"));
        }
    }

    [Fact]
    public async Task A_worker_whose_rules_do_not_fit_its_targets_stops_with_exit_code_1_and_names_the_problem()
    {
        await using var mesh = await Mesh.CreateAsync(servers, output, "CREATE TABLE public.t (id int PRIMARY KEY);", nodes: 2);
        mesh.Options.Conflicts.Default = new PgMultiMaster.Configuration.ConflictRule { Strategy = "Function", Function = "public.nowhere" };
        var worker = mesh.StartWorkerProcess("east");
        var code = await worker.WaitForExitAsync(TimeSpan.FromSeconds(60));
        Assert.True(code == 1, $"exit code {code}:\n{worker.Output}");
        Assert.Contains("has no function public.nowhere(local jsonb, remote jsonb, conflict_type text)", worker.Output);
        Assert.Contains("every link stopped for good", worker.Output);
    }

    [Fact]
    public async Task The_demo_never_takes_over_a_folder_it_did_not_create()
    {
        var dir = TempDir();
        var precious = Path.Combine(dir, "precious.txt");
        await File.WriteAllTextAsync(precious, "mine");
        var owner = File.GetUnixFileMode(dir);

        var (code, text) = await Pgmm(dir, "demo", "--seconds", "1", "--dir", dir);
        Assert.Equal(2, code);
        Assert.Contains($"--dir {dir} already exists: give a path that does not exist yet", text);
        Assert.Equal("mine", await File.ReadAllTextAsync(precious));
        Assert.Equal(owner, File.GetUnixFileMode(dir));
        Assert.Equal(["precious.txt"], Directory.GetFileSystemEntries(dir).Select(Path.GetFileName));
    }

    [Fact]
    public async Task Servers_the_demo_keeps_running_need_the_password_it_wrote_for_its_user_only()
    {
        var dir = Path.Combine(TempDir(), "demo");
        var (code, text) = await Pgmm(Path.GetTempPath(), "demo", "--seconds", "1", "--port", "0", "--keep", "--dir", dir);
        try
        {
            Assert.True(code == 0, text);
            var port = int.Parse(System.Text.RegularExpressions.Regex.Match(text, @"-p (\d+) -U postgres demo").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            var password = Path.Combine(dir, "postgres.password");
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(password));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(dir, "appsettings.json")));

            // Any local user over TCP, without the password: refused.
            await using (var anyone = new NpgsqlConnection($"Host=127.0.0.1;Port={port};Username=postgres;Database=demo;Timeout=10"))
                // The server asks for a password (SCRAM); trust would have let the connection in.
                Assert.Contains("password", Assert.IsAssignableFrom<NpgsqlException>(await Record.ExceptionAsync(() => anyone.OpenAsync())).Message);
            await using var owner = new NpgsqlConnection($"Host=127.0.0.1;Port={port};Username=postgres;Database=demo;Timeout=10;Password={await File.ReadAllTextAsync(password)}");
            await owner.OpenAsync();
            Assert.DoesNotContain(await File.ReadAllTextAsync(password), text);
        }
        finally
        {
            await PgmmCli.StopKeptDemoAsync(dir);
        }
    }
}
