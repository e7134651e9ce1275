using System.Diagnostics;
using System.Text.Json;

namespace PgMultiMaster.IntegrationTests.Harness;

/// <summary>Runs the pgmm executable as an operator would and returns its exit code and output.</summary>
public static class PgmmCli
{
    public static async Task<(int Code, string Output)> RunAsync(string workingDir, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = workingDir };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "pgmm.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        try
        {
            await p.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            // A hung command must not outlive the test (it may hold slots, locks or a port).
            p.Kill(entireProcessTree: true);
            await p.WaitForExitAsync();
            throw new TimeoutException($"pgmm {string.Join(' ', args)} did not finish within 120 s and was killed:\n{await stdout}{await stderr}");
        }
        return (p.ExitCode, await stdout + await stderr);
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
