using System.Diagnostics;
using System.Globalization;
using Npgsql;
using PgMultiMaster.LocalServers;

namespace PgMultiMaster.IntegrationTests.Harness;

/// <summary>
/// A run that says it tests PostgreSQL N tests PostgreSQL N. scripts/test.sh runs the suite once per version with
/// that version's bin folder and <c>PGMM_PG_MAJOR</c>; a wrong folder, a <c>pg_config</c> of another install or a
/// Docker image of another tag would otherwise pass the whole suite against the wrong server, unnoticed.
/// </summary>
internal static class ServerVersions
{
    /// <summary>The major version the run claims to test (scripts/test.sh sets it); unset: whatever the binaries are.</summary>
    public const string ExpectedVariable = "PGMM_PG_MAJOR";

    /// <summary>
    /// Every claim about the version — <c>PGMM_PG_MAJOR</c>, the bin folder's <c>postgres --version</c> and
    /// <c>pg_config --version</c>, or the Docker image's major — must match every server's <c>server_version_num</c>.
    /// </summary>
    public static async Task AssertAsync(IReadOnlyList<ITestServer> servers, string? binDir, int? imageMajor)
    {
        var claims = new List<(string Source, int? Major)>();
        var expected = Environment.GetEnvironmentVariable(ExpectedVariable);
        if (!string.IsNullOrWhiteSpace(expected))
            claims.Add(($"{ExpectedVariable}={expected}", int.TryParse(expected, CultureInfo.InvariantCulture, out var e) ? e : null));
        if (binDir is not null)
        {
            claims.Add(($"{Path.Combine(binDir, "postgres")} --version", PostgresBinaries.MajorVersion(binDir) is var m and > 0 ? m : null));
            var pgConfig = Path.Combine(binDir, "pg_config");
            if (File.Exists(pgConfig)) claims.Add(($"{pgConfig} --version", Major(Run(pgConfig, "--version"))));
        }
        if (imageMajor is not null) claims.Add(("the Docker image (PGMM_TEST_PG_VERSION)", imageMajor));

        var problems = new List<string>();
        foreach (var server in servers)
        {
            await using var conn = new NpgsqlConnection(server.ConnectionString("postgres"));
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand("SHOW server_version_num", conn);
            var num = int.Parse((string)(await cmd.ExecuteScalarAsync())!, CultureInfo.InvariantCulture);
            foreach (var (source, major) in claims.Where(c => c.Major != num / 10000))
                problems.Add($"server '{server.Name}' runs server_version_num {num} (major {num / 10000}), but {source} says {major?.ToString(CultureInfo.InvariantCulture) ?? "nothing readable"}");
        }
        if (problems.Count > 0)
            throw new InvalidOperationException("The servers are not the PostgreSQL version this run claims to test:\n  " + string.Join("\n  ", problems));
    }

    // "PostgreSQL 15.18 (Debian 15.18-0+deb12u1)" (pg_config), "postgres (PostgreSQL) 18.1" (postgres) -> the major
    private static int? Major(string? versionLine)
    {
        var word = versionLine?.Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .SkipWhile(w => w is not ("PostgreSQL" or "(PostgreSQL)")).Skip(1).FirstOrDefault();
        return int.TryParse(word?.Split('.')[0], CultureInfo.InvariantCulture, out var major) ? major : null;
    }

    private static string? Run(string file, string args)
    {
        using var p = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true });
        if (p is null) return null;
        var output = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(30_000)) { p.Kill(entireProcessTree: true); return null; }
        return p.ExitCode == 0 ? output : null;
    }
}
