using System.Text;
using Npgsql;
using NpgsqlTypes;
using PgMultiMaster.Decoding;
using PgMultiMaster.Sql;

namespace PgMultiMaster.Apply;

/// <summary>
/// Builds the parameterized statement for one row change. SQL text is cached per relation, operation and
/// set of columns sent, so the server can keep one prepared statement for each.
/// </summary>
internal sealed class StatementBuilder
{
    private readonly Dictionary<(uint, ChangeKind, string), string> _sql = [];

    public void Forget(uint relationId)
    {
        foreach (var key in _sql.Keys.Where(k => k.Item1 == relationId).ToList())
            _sql.Remove(key);
    }

    public NpgsqlBatchCommand Build(TargetTable table, RowChange change)
    {
        var command = new NpgsqlBatchCommand();
        switch (change.Kind)
        {
            case ChangeKind.Insert:
            {
                var row = change.New!;
                command.CommandText = Cached(table, change.Kind, row, null, () => InsertSql(table, row));
                foreach (var cell in row) Add(command, cell);
                break;
            }
            case ChangeKind.Update:
            {
                var row = change.New!;
                // Without an old image the key did not change: the new row's key finds the row.
                var match = change.Old ?? row;
                command.CommandText = Cached(table, change.Kind, row, match, () => UpdateSql(table, row, match));
                foreach (var cell in row) if (!cell.IsUnchanged) Add(command, cell);
                AddMatch(command, table, match);
                break;
            }
            case ChangeKind.Delete:
            {
                var match = change.Old!;
                command.CommandText = Cached(table, change.Kind, match, match, () => DeleteSql(table, match));
                AddMatch(command, table, match);
                break;
            }
        }
        return command;
    }

    private string Cached(TargetTable table, ChangeKind kind, Cell[] row, Cell[]? match, Func<string> build)
    {
        var key = (table.Relation.Id, kind, Mask(row) + "|" + (match is null ? "" : Mask(match)));
        if (!_sql.TryGetValue(key, out var sql))
            _sql[key] = sql = build();
        return sql;
    }

    // Which cells are present: unchanged TOAST values are left out of the statement.
    private static string Mask(Cell[] row) => string.Create(row.Length, row, (span, r) =>
    {
        for (var i = 0; i < r.Length; i++) span[i] = r[i].IsUnchanged ? '0' : '1';
    });

    private static string InsertSql(TargetTable table, Cell[] row)
    {
        var cols = table.Relation.Columns;
        var sb = new StringBuilder("INSERT INTO ").Append(table.QuotedName).Append(" (");
        for (var i = 0; i < cols.Length; i++) sb.Append(i > 0 ? ", " : "").Append(Quote.Ident(cols[i].Name));
        // Identity columns GENERATED ALWAYS still take the source's value: it is the same row.
        sb.Append(") OVERRIDING SYSTEM VALUE VALUES (");
        for (var i = 0; i < row.Length; i++) sb.Append(i > 0 ? ", $" : "$").Append(i + 1);
        return sb.Append(')').ToString();
    }

    private static string UpdateSql(TargetTable table, Cell[] row, Cell[] match)
    {
        var cols = table.Relation.Columns;
        var sb = new StringBuilder("UPDATE ").Append(table.QuotedName).Append(" SET ");
        var n = 0;
        for (var i = 0; i < row.Length; i++)
        {
            if (row[i].IsUnchanged) continue;
            sb.Append(n > 0 ? ", " : "").Append(Quote.Ident(cols[i].Name)).Append(" = $").Append(++n);
        }
        return AppendWhere(sb, table, match, n).ToString();
    }

    private static string DeleteSql(TargetTable table, Cell[] match) =>
        AppendWhere(new StringBuilder("DELETE FROM ").Append(table.QuotedName), table, match, 0).ToString();

    private static StringBuilder AppendWhere(StringBuilder sb, TargetTable table, Cell[] match, int n)
    {
        var cols = table.Relation.Columns;
        var conditions = new List<string>();
        foreach (var i in table.MatchColumns)
        {
            if (match[i].IsUnchanged) continue;
            var col = Quote.Ident(cols[i].Name);
            conditions.Add(table.MatchAllColumns
                // No key: compare every column as text, NULL-safe (json and point have no = operator).
                ? $"{col}::text IS NOT DISTINCT FROM ${++n}::text"
                : $"{col} = ${++n}");
        }
        var where = string.Join(" AND ", conditions);
        // Without a key, identical rows are indistinguishable: change exactly one, as the source did.
        return table.MatchAllColumns
            ? sb.Append(" WHERE ctid = (SELECT ctid FROM ").Append(table.QuotedName).Append(" WHERE ").Append(where).Append(" LIMIT 1)")
            : sb.Append(" WHERE ").Append(where);
    }

    private static void AddMatch(NpgsqlBatchCommand command, TargetTable table, Cell[] match)
    {
        foreach (var i in table.MatchColumns)
            if (!match[i].IsUnchanged) Add(command, match[i]);
    }

    // Text values go as parameters of unknown type: the server casts them to the column's type,
    // which round-trips every type exactly, enums and domains included.
    private static void Add(NpgsqlBatchCommand command, Cell cell) =>
        command.Parameters.Add(new NpgsqlParameter
        {
            NpgsqlDbType = NpgsqlDbType.Unknown,
            Value = cell.Kind == CellKind.Null ? DBNull.Value : cell.Text!,
        });
}
