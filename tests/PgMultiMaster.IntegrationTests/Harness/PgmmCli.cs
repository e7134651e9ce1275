using System.Diagnostics;
using System.Text.Json;

namespace PgMultiMaster.IntegrationTests.Harness;

/// <summary>Runs the pgmm executable as an operator would and returns its exit code and output.</summary>
public static class PgmmCli
{
    public static Task<(int Code, string Output)> RunAsync(string workingDir, params string[] args) =>
        RunAsync(workingDir, TimeSpan.FromSeconds(120), args);

    public static async Task<(int Code, string Output)> RunAsync(string workingDir, TimeSpan timeout, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = workingDir };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "pgmm.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var limit = new CancellationTokenSource(timeout);
        try
        {
            await p.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            // A hung command must not outlive the test (it may hold slots, locks or a port).
            p.Kill(entireProcessTree: true);
            await p.WaitForExitAsync();
            throw new TimeoutException($"pgmm {string.Join(' ', args)} did not finish within {timeout.TotalSeconds:0} s and was killed:\n{await stdout}{await stderr}");
        }
        return (p.ExitCode, await stdout + await stderr);
    }

    /// <summary>Stops the servers <c>pgmm demo --keep --dir DIR</c> left running (fast shutdown), as the user that runs them.</summary>
    public static async Task StopKeptDemoAsync(string dir)
    {
        var pgCtl = Path.Combine(PgMultiMaster.LocalServers.PostgresBinaries.Find(), "pg_ctl");
        foreach (var node in new[] { "east", "west", "north" })
        {
            var dataDir = Path.Combine(dir, node);
            if (!Directory.Exists(dataDir)) continue;
            var psi = Environment.IsPrivilegedProcess ? new ProcessStartInfo("runuser", ["-u", "postgres", "--", pgCtl]) : new ProcessStartInfo(pgCtl);
            foreach (var a in new[] { "-D", dataDir, "-m", "fast", "-w", "stop" }) psi.ArgumentList.Add(a);
            psi.RedirectStandardOutput = psi.RedirectStandardError = true;
            using var p = Process.Start(psi)!;
            await Task.WhenAll(p.StandardOutput.ReadToEndAsync(), p.StandardError.ReadToEndAsync(), p.WaitForExitAsync());
        }
    }

    /// <summary>A fresh folder holding the mesh's configuration as appsettings.json.</summary>
    public static string ConfigDir(Mesh mesh)
    {
        var dir = Path.Combine(Path.GetTempPath(), "pgmm-cli-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "appsettings.json"), JsonSerializer.Serialize(new { PgMultiMaster = mesh.Options }));
        return dir;
    }
}
