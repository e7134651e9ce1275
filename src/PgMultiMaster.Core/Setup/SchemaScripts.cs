using System.Reflection;
using System.Text.RegularExpressions;
using Dapper;
using Npgsql;

namespace PgMultiMaster.Setup;

/// <summary>
/// The versioned scripts of <c>sql/</c> (embedded): <c>NNN_name.sql</c> runs once per database, in order,
/// each in its own transaction with its version recorded in <c>pgmm.schema_version</c>.
/// </summary>
public static partial class SchemaScripts
{
    [GeneratedRegex(@"^sql/(\d{3})_[a-z0-9_]+\.sql$")]
    private static partial Regex ScriptName();

    public static IReadOnlyList<(int Version, string Name, string Sql)> All { get; } = Load();

    private static List<(int, string, string)> Load()
    {
        var assembly = typeof(SchemaScripts).Assembly;
        return assembly.GetManifestResourceNames()
            .Select(n => (Name: n, Match: ScriptName().Match(n)))
            .Where(x => x.Match.Success)
            .Select(x => (int.Parse(x.Match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), x.Name, Read(assembly, x.Name)))
            .OrderBy(x => x.Item1)
            .ToList();
    }

    private static string Read(Assembly assembly, string name)
    {
        using var stream = assembly.GetManifestResourceStream(name)!;
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    /// <summary>Brings the pgmm schema of one database up to date; returns the versions applied.</summary>
    public static async Task<IReadOnlyList<int>> ApplyAsync(NpgsqlConnection conn, CancellationToken ct)
    {
        await conn.ExecuteAsync(new CommandDefinition("CREATE SCHEMA IF NOT EXISTS pgmm", cancellationToken: ct)).ConfigureAwait(false);
        var installed = await conn.ExecuteScalarAsync<bool>(new CommandDefinition(
            "SELECT pg_catalog.to_regclass('pgmm.schema_version') IS NOT NULL", cancellationToken: ct)).ConfigureAwait(false)
            ? await conn.ExecuteScalarAsync<int>(new CommandDefinition(
                "SELECT coalesce(max(version), 0) FROM pgmm.schema_version", cancellationToken: ct)).ConfigureAwait(false)
            : 0;

        var applied = new List<int>();
        foreach (var (version, _, sql) in All.Where(s => s.Version > installed))
        {
            await using var tx = await conn.BeginTransactionAsync(ct).ConfigureAwait(false);
            await using (var run = new NpgsqlCommand(sql, conn, tx))
                await run.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            await conn.ExecuteAsync(new CommandDefinition(
                "INSERT INTO pgmm.schema_version (version) VALUES (@version)", new { version }, tx, cancellationToken: ct)).ConfigureAwait(false);
            await tx.CommitAsync(ct).ConfigureAwait(false);
            applied.Add(version);
        }
        return applied;
    }
}
