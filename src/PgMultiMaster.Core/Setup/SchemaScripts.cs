using System.Reflection;
using System.Text.RegularExpressions;
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
        await using (var create = new NpgsqlCommand("CREATE SCHEMA IF NOT EXISTS pgmm", conn))
            await create.ExecuteNonQueryAsync(ct).ConfigureAwait(false);

        var installed = 0;
        await using (var exists = new NpgsqlCommand("SELECT pg_catalog.to_regclass('pgmm.schema_version') IS NOT NULL", conn))
        {
            if ((bool)(await exists.ExecuteScalarAsync(ct).ConfigureAwait(false))!)
            {
                await using var current = new NpgsqlCommand("SELECT coalesce(max(version), 0) FROM pgmm.schema_version", conn);
                installed = (int)(await current.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
            }
        }

        var applied = new List<int>();
        foreach (var (version, _, sql) in All.Where(s => s.Version > installed))
        {
            await using var tx = await conn.BeginTransactionAsync(ct).ConfigureAwait(false);
            await using (var run = new NpgsqlCommand(sql, conn, tx))
                await run.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            await using (var record = new NpgsqlCommand("INSERT INTO pgmm.schema_version (version) VALUES ($1)", conn, tx))
            {
                record.Parameters.Add(new NpgsqlParameter { Value = version });
                await record.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }
            await tx.CommitAsync(ct).ConfigureAwait(false);
            applied.Add(version);
        }
        return applied;
    }
}
