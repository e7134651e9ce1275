using Npgsql;
using NpgsqlTypes;
using PgMultiMaster.Decoding;

namespace PgMultiMaster.Apply;

/// <summary>Positional parameters of one statement, all sent as text of unknown type and cast in the SQL.</summary>
internal sealed class SqlParams
{
    public List<object> Values { get; } = [];

    /// <summary>Adds a value and returns its placeholder (<c>$n</c>).</summary>
    public string Add(string? text)
    {
        Values.Add(text is null ? DBNull.Value : text);
        return "$" + Values.Count;
    }

    public string Add(Cell cell) => Add(cell.Kind == CellKind.Null ? null : cell.Text);

    public NpgsqlBatchCommand Command(string sql)
    {
        var command = new NpgsqlBatchCommand(sql);
        foreach (var v in Values)
            command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Unknown, Value = v });
        return command;
    }

    public static string Timestamp(DateTime utc) => utc.ToString("yyyy-MM-dd HH:mm:ss.ffffff'+00'", System.Globalization.CultureInfo.InvariantCulture);
}
