using System.Collections.Frozen;
using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;
using Npgsql;

namespace PgMultiMaster.Diagnostics;

/// <summary>
/// Error texts safe to show to whoever can read a link's status without a database login (<c>/readyz</c>,
/// <c>/api/*</c>, <c>pgmm status</c>, <c>pgmm.worker_status</c>). PostgreSQL quotes the offending values in the
/// messages of some SQLSTATE classes (<c>invalid input syntax for type integer: "abc"</c>) and in Details
/// (<c>Key (id)=(5) already exists</c>); those are never part of the text. The full error goes where the data
/// already is: the dead-letter row's <c>last_error</c> and the worker's log.
/// </summary>
public static partial class ErrorText
{
    /// <summary>
    /// SQLSTATE classes whose message text may quote row values: 22 (data exception: invalid input, out of range, …),
    /// P0 (PL/pgSQL RAISE and ASSERT texts, written by trigger and resolver functions), 2F, 38 and 39 (errors of SQL and
    /// external routines, whose texts the routine writes), XX (internal errors, which may echo anything). The others
    /// name tables, columns, types and constraints; their values are only in the Detail, which is never shown.
    /// </summary>
    private static readonly FrozenSet<string> ValueClasses = FrozenSet.Create("22", "P0", "2F", "38", "39", "XX");

    /// <summary>
    /// The condition name of each SQLSTATE PostgreSQL defines (22P02 → invalid_text_representation): Npgsql's names in
    /// snake case, which are PostgreSQL's but for a suffix on the routine classes' (…_sql_routine_exception).
    /// </summary>
    private static readonly FrozenDictionary<string, string> Conditions = typeof(PostgresErrorCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Where(f => f.IsLiteral && f.FieldType == typeof(string))
        .ToFrozenDictionary(f => (string)f.GetRawConstantValue()!, f => SnakeCase(f.Name));

    /// <summary>
    /// The text of <paramref name="e"/> safe to show: for a PostgreSQL error (or an exception wrapping one) of a
    /// value-carrying class <c>SQLSTATE (condition_name)</c>, of another class <c>SQLSTATE: message</c> (never its
    /// Detail, Hint or Where); for any other exception its message.
    /// </summary>
    public static string Of(Exception e)
    {
        // pgmm's own account of why a link stopped: written to be shown (it names LSNs, nodes, the way out).
        if (e is Failures.LinkStopException) return e.Message;
        // Wrappers (a replay, a failed queued transaction) carry the PostgreSQL error inside; their own messages quote it.
        for (var inner = e; inner is not null; inner = inner.InnerException)
            if (inner is PostgresException p)
                return Format(p.SqlState, p.MessageText);
        return e.Message;
    }

    /// <summary>
    /// The same for a text stored earlier as <c>SQLSTATE: message</c> (a dead letter's <c>reason</c> or
    /// <c>last_error</c>, a status an older worker published). Texts of another form are returned as they are.
    /// </summary>
    [return: NotNullIfNotNull(nameof(text))]
    public static string? Redact(string? text)
    {
        if (text is null) return null;
        var m = SqlStatePrefix().Match(text);
        return m.Success ? Format(m.Groups[1].Value, text[m.Length..]) : text;
    }

    private static string Format(string sqlState, string message)
    {
        // A SQLSTATE PostgreSQL does not define was raised by a function (RAISE … USING ERRCODE): its text is anyone's.
        var known = Conditions.TryGetValue(sqlState, out var condition);
        if (!known || ValueClasses.Contains(sqlState[..2]))
            return known ? $"{sqlState} ({condition})" : sqlState;
        // Npgsql appends the Detail to its message after a blank line: the first line is PostgreSQL's own message.
        var end = message.IndexOf('\n', StringComparison.Ordinal);
        return $"{sqlState}: {(end < 0 ? message : message[..end]).TrimEnd()}";
    }

    [GeneratedRegex("^([0-9A-Z]{5}): ")]
    private static partial Regex SqlStatePrefix();

    // InvalidTextRepresentation → invalid_text_representation, as PostgreSQL's errcodes name it.
    private static string SnakeCase(string name)
    {
        var s = new StringBuilder(name.Length + 8);
        for (var i = 0; i < name.Length; i++)
        {
            if (i > 0 && char.IsUpper(name[i]) && !char.IsUpper(name[i - 1])) s.Append('_');
            s.Append(char.ToLowerInvariant(name[i]));
        }
        return s.ToString();
    }
}
