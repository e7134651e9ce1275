using System.Text;
using System.Text.Json;

namespace PgMultiMaster.Membership;

/// <summary>
/// Edits a JSON settings file (appsettings.json) in place, as text: only the values an edit names change, and every
/// comment, blank line and key elsewhere stays exactly as it was (a parse-and-serialize round trip would drop the
/// comments operators keep in it). Pure: text in, text out. Used by <c>pgmm node remove --write-config</c>, and meant
/// for <c>node add</c> too.
/// </summary>
public static class SettingsFile
{
    /// <summary>One JSON value of the file: its configuration path (<c>PgMultiMaster:Nodes:0:Name</c>) and its bytes.</summary>
    /// <param name="Start">Byte offset of its first token in the UTF-8 text.</param>
    /// <param name="End">Byte offset just after its last token.</param>
    /// <param name="Text">Its value, for strings; else null.</param>
    public sealed record Value(string Path, int Start, int End, JsonTokenType Kind, string? Text);

    private static readonly JsonReaderOptions Reading = new() { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };

    /// <summary>Every value of <paramref name="utf8"/> by its configuration path, in file order (containers before their contents).</summary>
    public static IReadOnlyList<Value> Values(ReadOnlySpan<byte> utf8)
    {
        var values = new List<Value>();
        var reader = new Utf8JsonReader(utf8, Reading);
        // Per open container: its path, its index in values, and (arrays) the next index or (objects) the pending key.
        var stack = new Stack<(string Path, int Slot, bool Array, int Next, string? Key)>();
        string PathOfNext()
        {
            if (stack.Count == 0) return "";
            var top = stack.Pop();
            string path;
            if (top.Array)
            {
                path = Join(top.Path, top.Next.ToString(System.Globalization.CultureInfo.InvariantCulture));
                top.Next++;
            }
            else path = Join(top.Path, top.Key!);
            stack.Push(top);
            return path;
        }
        while (reader.Read())
        {
            switch (reader.TokenType)
            {
                case JsonTokenType.PropertyName:
                    var open = stack.Pop();
                    stack.Push(open with { Key = reader.GetString() });
                    break;
                case JsonTokenType.StartObject or JsonTokenType.StartArray:
                    var path = PathOfNext();
                    values.Add(new Value(path, (int)reader.TokenStartIndex, -1, reader.TokenType, null));
                    stack.Push((path, values.Count - 1, reader.TokenType == JsonTokenType.StartArray, 0, null));
                    break;
                case JsonTokenType.EndObject or JsonTokenType.EndArray:
                    var closed = stack.Pop();
                    values[closed.Slot] = values[closed.Slot] with { End = (int)reader.BytesConsumed };
                    break;
                default:
                    values.Add(new Value(PathOfNext(), (int)reader.TokenStartIndex, (int)reader.BytesConsumed, reader.TokenType,
                        reader.TokenType == JsonTokenType.String ? reader.GetString() : null));
                    break;
            }
        }
        return values;
    }

    private static string Join(string parent, string key) => parent.Length == 0 ? key : parent + ":" + key;

    /// <summary>What <see cref="RemoveNode"/> changed: the configuration paths it removed (as they were numbered before).</summary>
    public sealed record Edit(string Text, IReadOnlyList<string> Removed);

    /// <summary>
    /// Takes node <paramref name="node"/> out of <c>PgMultiMaster:Nodes</c>, and out of every <c>Priority</c> list of
    /// <c>PgMultiMaster:Conflicts</c> (the configuration is refused while a rule names a node it does not list).
    /// Nothing else changes. <see cref="Edit.Removed"/> is empty when the file does not list the node (it may come
    /// from the environment or the command line).
    /// </summary>
    public static Edit RemoveNode(string json, string node)
    {
        const string section = Configuration.PgMultiMasterOptions.SectionName;
        var (bom, utf8) = Bytes(json);
        var values = Values(utf8);
        var doomed = new List<Value>();
        foreach (var v in values)
        {
            // PgMultiMaster:Nodes:<i> whose Name is the node
            if (v.Kind == JsonTokenType.StartObject && Parent(v.Path) is { } list && Same(list, $"{section}:Nodes")
                && values.Any(n => Same(n.Path, v.Path + ":Name") && n.Text == node))
                doomed.Add(v);
            // PgMultiMaster:Conflicts:Default:Priority:<i> and PgMultiMaster:Conflicts:Tables:<table>:Priority:<i>
            if (v.Kind == JsonTokenType.String && v.Text == node && Parent(v.Path) is { } priority
                && priority.StartsWith($"{section}:Conflicts:", StringComparison.OrdinalIgnoreCase)
                && priority.EndsWith(":Priority", StringComparison.OrdinalIgnoreCase))
                doomed.Add(v);
        }
        var text = utf8.ToArray();
        // From the end, so earlier offsets stay valid.
        foreach (var (from, to) in doomed.SelectMany(v => Cuts(utf8, values, v)).OrderByDescending(c => c.From))
            text = [.. text.AsSpan(0, from), .. text.AsSpan(to)];
        return new Edit(bom + Encoding.UTF8.GetString(text), doomed.Select(v => v.Path).ToList());
    }

    /// <summary>
    /// Appends node <paramref name="node"/> to <c>PgMultiMaster:Nodes</c>, on a line of its own indented like the one
    /// before it. Nothing else changes. Null when the file has no such array (the nodes come from elsewhere) or already
    /// lists the node.
    /// </summary>
    public static string? AddNode(string json, string node, string connectionString)
    {
        const string section = Configuration.PgMultiMasterOptions.SectionName;
        var (bom, utf8) = Bytes(json);
        var values = Values(utf8);
        var nodes = values.FirstOrDefault(v => v.Kind == JsonTokenType.StartArray && Same(v.Path, $"{section}:Nodes"));
        if (nodes is null || values.Any(v => v.Text == node && v.Path.EndsWith(":Name", StringComparison.OrdinalIgnoreCase)
                                             && Parent(v.Path) is { } element && Parent(element) is { } list && Same(list, nodes.Path)))
            return null;
        var elements = values.Where(v => Parent(v.Path) is { } p && Same(p, nodes.Path)).ToList();
        // Readable in a file people edit: only what JSON requires is escaped.
        var entry = System.Text.Json.JsonSerializer.Serialize(new { Name = node, ConnectionString = connectionString },
            new System.Text.Json.JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        entry = entry.Replace("{\"Name\":", "{ \"Name\": ", StringComparison.Ordinal).Replace(",\"ConnectionString\":", ", \"ConnectionString\": ", StringComparison.Ordinal)[..^1] + " }";
        var text = Encoding.UTF8.GetString(utf8);
        string edited;
        if (elements.Count == 0)
        {
            // Whatever the brackets held (a comment, line breaks) stays, after the node.
            var at = CharOffset(utf8, nodes.Start + 1);
            edited = text[..at] + " " + entry + (utf8[nodes.Start + 1] == ']' ? " " : "") + text[at..];
        }
        else
        {
            var last = elements[^1];
            var lineStart = utf8[..last.Start].LastIndexOf((byte)'\n') + 1;
            var indent = Encoding.UTF8.GetString(utf8[lineStart..last.Start]);
            var at = CharOffset(utf8, last.End);
            if (indent.Trim().Length != 0)
                edited = text[..at] + ", " + entry + text[at..];
            else
            {
                var newline = lineStart >= 2 && utf8[lineStart - 2] == '\r' ? "\r\n" : "\n";
                // A comment on the last node's line is that node's (RemoveNode takes it with it): the new one goes after it.
                if (CommentOnLineAfter(utf8, last.End) is var (comma, lineEnd))
                {
                    var end = CharOffset(utf8, lineEnd);
                    edited = text[..at] + (comma ? "" : ",") + text[at..end] + newline + indent + entry + text[end..];
                }
                else edited = text[..at] + "," + newline + indent + entry + text[at..];
            }
        }
        return bom + edited;
    }

    /// <summary>
    /// When a value is followed on its line (after blanks and maybe a comma) by a <c>//</c> comment: whether there was
    /// a comma, and the byte offset where the line ends (before its line break).
    /// </summary>
    private static (bool Comma, int LineEnd)? CommentOnLineAfter(ReadOnlySpan<byte> utf8, int at)
    {
        var comma = false;
        while (at < utf8.Length && (utf8[at] is (byte)' ' or (byte)'\t' || (!comma && utf8[at] == ','))) comma |= utf8[at++] == ',';
        if (!utf8[at..].StartsWith("//"u8)) return null;
        var end = utf8[at..].IndexOf((byte)'\n') is var nl and >= 0 ? at + nl : utf8.Length;
        if (end > at && utf8[end - 1] == '\r') end--;
        return (comma, end);
    }

    private static int CharOffset(ReadOnlySpan<byte> utf8, int byteOffset) => Encoding.UTF8.GetCharCount(utf8[..byteOffset]);

    /// <summary>
    /// The bytes to cut to take one element out of its array with its comma. Followed by another element: up to that
    /// one (its comment on the same line goes with it). The last of several: the comma after the one before, and the
    /// element with the line it starts on (a comment after that comma belongs to the one before, and stays).
    /// </summary>
    private static IEnumerable<(int From, int To)> Cuts(ReadOnlySpan<byte> utf8, IReadOnlyList<Value> values, Value element)
    {
        var parent = Parent(element.Path)!;
        var siblings = values.Where(v => Parent(v.Path) is { } p && string.Equals(p, parent, StringComparison.Ordinal)).ToList();
        var i = siblings.IndexOf(element);
        if (i + 1 < siblings.Count) return [(element.Start, siblings[i + 1].Start)];
        if (i == 0) return [(element.Start, element.End)];
        var comma = CommaAfter(utf8, siblings[i - 1].End);
        var from = element.Start;
        while (from > comma + 1 && utf8[from - 1] is (byte)' ' or (byte)'\t') from--;
        if (from > comma + 1 && utf8[from - 1] == '\n') from--;
        if (from > comma + 1 && utf8[from - 1] == '\r') from--;
        return [(comma, comma + 1), (from, element.End)];
    }

    /// <summary>The comma that follows a value, past whitespace and comments.</summary>
    private static int CommaAfter(ReadOnlySpan<byte> utf8, int at)
    {
        while (at < utf8.Length)
        {
            if (utf8[at] == ',') return at;
            if (utf8[at..].StartsWith("//"u8)) at = utf8[at..].IndexOf((byte)'\n') is var nl and >= 0 ? at + nl : utf8.Length;
            else if (utf8[at..].StartsWith("/*"u8)) at += utf8[at..].IndexOf("*/"u8) + 2;
            else at++;
        }
        throw new FormatException("no comma between two array elements");
    }

    private static string? Parent(string path) => path.LastIndexOf(':') is var at and >= 0 ? path[..at] : null;

    private static bool Same(string a, string b) => string.Equals(a, b, StringComparison.OrdinalIgnoreCase);

    private static (string Bom, byte[] Utf8) Bytes(string json) =>
        json.StartsWith('\uFEFF') ? ("\uFEFF", Encoding.UTF8.GetBytes(json[1..])) : ("", Encoding.UTF8.GetBytes(json));
}
