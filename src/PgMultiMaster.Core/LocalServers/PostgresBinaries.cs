using System.Diagnostics;

namespace PgMultiMaster.LocalServers;

/// <summary>Finds the server binaries (initdb, pg_ctl, postgres) on this machine without configuration.</summary>
public static class PostgresBinaries
{
    public const string BinDirVariable = "PGMM_PG_BINDIR";

    /// <summary>
    /// The bin folder holding initdb and pg_ctl: <c>$PGMM_PG_BINDIR</c>, else the newest
    /// <c>/usr/lib/postgresql/*/bin</c> (Debian, Ubuntu), else <c>pg_config --bindir</c>, else PATH.
    /// </summary>
    public static string Find()
    {
        var fromEnv = Environment.GetEnvironmentVariable(BinDirVariable);
        if (!string.IsNullOrWhiteSpace(fromEnv))
        {
            if (!HasServer(fromEnv))
                throw new FileNotFoundException($"{BinDirVariable}={fromEnv} holds no initdb and pg_ctl.");
            return fromEnv;
        }

        var candidates = new List<string>();
        if (Directory.Exists("/usr/lib/postgresql"))
            candidates.AddRange(Directory.GetDirectories("/usr/lib/postgresql")
                .OrderByDescending(d => int.TryParse(Path.GetFileName(d), out var v) ? v : 0)
                .Select(d => Path.Combine(d, "bin")));
        candidates.AddRange(["/usr/pgsql/bin", "/usr/local/pgsql/bin", "/opt/homebrew/bin", "/usr/local/bin"]);
        var pgConfig = TryRun("pg_config", "--bindir");
        if (pgConfig is not null) candidates.Insert(0, pgConfig.Trim());
        candidates.AddRange((Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries));

        return candidates.FirstOrDefault(HasServer)
            ?? throw new FileNotFoundException(
                "No PostgreSQL server binaries (initdb, pg_ctl) found. Install them (Debian/Ubuntu: apt-get install postgresql) " +
                $"or point {BinDirVariable} at the folder that holds them.");
    }

    /// <summary>Major version of the server in <paramref name="binDir"/>, from <c>postgres --version</c>.</summary>
    public static int MajorVersion(string binDir)
    {
        var text = TryRun(Path.Combine(binDir, "postgres"), "--version") ?? "";
        var digits = text.Split(' ', StringSplitOptions.RemoveEmptyEntries).LastOrDefault() ?? "";
        return int.TryParse(digits.Split('.')[0], out var major) ? major : 0;
    }

    private static bool HasServer(string dir) =>
        File.Exists(Path.Combine(dir, "initdb")) && File.Exists(Path.Combine(dir, "pg_ctl")) && File.Exists(Path.Combine(dir, "postgres"));

    private static string? TryRun(string file, string args)
    {
        try
        {
            using var p = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true });
            if (p is null) return null;
            var output = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            return p.ExitCode == 0 ? output : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }
}
