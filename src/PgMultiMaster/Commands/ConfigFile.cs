using PgMultiMaster.Membership;

namespace PgMultiMaster.Cli.Commands;

/// <summary>
/// The configuration file a membership verb (<c>node remove</c>, later <c>node add</c>) edits: the one <c>--config</c>
/// names, or ./appsettings.json. Edited as text (<see cref="SettingsFile"/>), so comments and other keys stay, and
/// replaced whole by a rename, so a worker starting meanwhile never reads half of it.
/// </summary>
internal static class ConfigFile
{
    public static string PathOf(CliConfiguration configuration) => Path.GetFullPath(configuration.ConfigPath ?? "appsettings.json");

    /// <summary>Applies <paramref name="edit"/> to the file and writes the result back if it changed anything.</summary>
    public static async Task<SettingsFile.Edit> RewriteAsync(CliConfiguration configuration, Func<string, SettingsFile.Edit> edit, CancellationToken ct)
    {
        var path = PathOf(configuration);
        var edited = edit(await File.ReadAllTextAsync(path, ct));
        if (edited.Removed.Count == 0) return edited;
        await WriteAsync(path, edited.Text, ct);
        return edited;
    }

    /// <summary>Replaces the file whole, by a rename.</summary>
    public static async Task WriteAsync(string path, string text, CancellationToken ct)
    {
        var written = $"{path}.{Guid.NewGuid():N}.tmp";
        await File.WriteAllTextAsync(written, text, ct);
        File.Move(written, path, overwrite: true);
    }
}
