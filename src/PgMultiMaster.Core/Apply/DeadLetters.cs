using PgMultiMaster.Configuration;
using System.Collections.Immutable;
using System.Text.Json.Nodes;
using Npgsql;
using PgMultiMaster.Conflicts;
using PgMultiMaster.Decoding;

namespace PgMultiMaster.Apply;

/// <summary>A change that is parked instead of applied, and why.</summary>
internal sealed record ParkRequest(RowChange Change, ConflictType? Type, string Reason, bool Retryable);

/// <summary>Writing parked changes (and refused TRUNCATEs) to <c>pgmm.dead_letter</c>, with everything needed to apply them later.</summary>
internal static class DeadLetters
{
    private const string Columns =
        "source_node, origin_name, table_name, schema_name, relation_name, operation, key, old_row, new_row, columns, replica_identity, " +
        "remote_commit_ts, remote_lsn, conflict_type, reason, retryable";

    public static NpgsqlBatchCommand Park(ParkRequest park, ApplyContext ctx, bool guarded)
    {
        var c = park.Change;
        var p = new SqlParams();
        var values = string.Join(", ",
            p.Add(ctx.SourceNode), p.Add(ctx.OriginName), p.Add(c.Relation.QualifiedName), p.Add(c.Relation.Schema), p.Add(c.Relation.Name),
            p.Add(c.Kind.ToString().ToLowerInvariant()), p.Add(KeyJson(c)?.ToJsonString()) + "::jsonb",
            p.Add(RowJson(c.Relation, c.Old)?.ToJsonString()) + "::jsonb", p.Add(RowJson(c.Relation, c.New)?.ToJsonString()) + "::jsonb",
            p.Add(ColumnsJson(c.Relation).ToJsonString()) + "::jsonb", p.Add(c.Relation.Identity.ToString()),
            p.Add(SqlParams.Timestamp(ctx.CommitTimestamp)) + "::timestamptz",
            p.Add(new NpgsqlTypes.NpgsqlLogSequenceNumber(ctx.CommitLsn).ToString()) + "::pg_lsn",
            p.Add(park.Type?.Name()), p.Add(park.Reason), p.Add(park.Retryable ? "true" : "false") + "::boolean");
        return guarded
            ? p.Command($"WITH w AS (INSERT INTO pgmm.dead_letter ({Columns}) SELECT {values} WHERE pg_catalog.current_setting('pgmm.halt') = 'off' RETURNING 1)" +
                        " SELECT CASE WHEN EXISTS (SELECT 1 FROM w) THEN true ELSE pg_catalog.set_config('pgmm.halt', 'on', true) = '' END")
            : p.Command($"INSERT INTO pgmm.dead_letter ({Columns}) VALUES ({values})");
    }

    /// <summary>
    /// A TRUNCATE the target refused, for a person to decide on (never retried by itself: run later, it would also remove
    /// the rows written since). <c>new_row</c> holds the tables and the options.
    /// </summary>
    public static NpgsqlBatchCommand ParkTruncate(IReadOnlyList<RelationInfo> tables, bool restartIdentity, string reason, ApplyContext ctx)
    {
        var p = new SqlParams();
        var what = new JsonObject
        {
            ["tables"] = new JsonArray([.. tables.Select(t => (JsonNode)new JsonArray(t.Schema, t.Name))]),
            ["restart_identity"] = restartIdentity,
        };
        var values = string.Join(", ",
            p.Add(ctx.SourceNode), p.Add(ctx.OriginName), p.Add(string.Join(", ", tables.Select(t => t.QualifiedName))),
            p.Add(tables[0].Schema), p.Add(tables[0].Name), "'truncate'", "NULL", "NULL", p.Add(what.ToJsonString()) + "::jsonb", "'[]'",
            p.Add(tables[0].Identity.ToString()), p.Add(SqlParams.Timestamp(ctx.CommitTimestamp)) + "::timestamptz",
            p.Add(new NpgsqlTypes.NpgsqlLogSequenceNumber(ctx.CommitLsn).ToString()) + "::pg_lsn", "NULL", p.Add(reason), "false");
        return p.Command($"INSERT INTO pgmm.dead_letter ({Columns}) VALUES ({values})");
    }

    /// <summary>The statement of a parked TRUNCATE (the inverse of <see cref="ParkTruncate"/>).</summary>
    public static string RestoreTruncate(string newRowJson)
    {
        var o = JsonNode.Parse(newRowJson)!.AsObject();
        var tables = o["tables"]!.AsArray().Select(t => Sql.Quote.Table(t![0]!.GetValue<string>(), t[1]!.GetValue<string>()));
        return "TRUNCATE " + string.Join(", ", tables) + (o["restart_identity"]!.GetValue<bool>() ? " RESTART IDENTITY" : "");
    }

    /// <summary>Text values by column name; an unchanged TOAST value is left out (it was not sent), NULL is null.</summary>
    public static JsonObject? RowJson(RelationInfo relation, Cell[]? row)
    {
        if (row is null) return null;
        var o = new JsonObject();
        for (var i = 0; i < row.Length; i++)
            if (!row[i].IsUnchanged) o[relation.Columns[i].Name] = row[i].Kind == CellKind.Null ? null : JsonValue.Create(row[i].Text);
        return o;
    }

    public static JsonObject? KeyJson(RowChange c)
    {
        var row = c.Old ?? c.New;
        if (row is null) return null;
        var o = new JsonObject();
        for (var i = 0; i < row.Length; i++)
            if (c.Relation.Columns[i].IsKey && !row[i].IsUnchanged) o[c.Relation.Columns[i].Name] = row[i].Kind == CellKind.Null ? null : JsonValue.Create(row[i].Text);
        return o;
    }

    /// <summary>Rebuilds a parked change from its dead-letter row (the inverse of <see cref="Park"/>).</summary>
    public static RowChange Restore(string schema, string relation, string operation, string columnsJson, string identity, string? oldJson, string? newJson)
    {
        var columns = JsonNode.Parse(columnsJson)!.AsArray()
            .Select(c => new ColumnInfo(c!["name"]!.GetValue<string>(), c["type"]!.GetValue<uint>(), c["key"]!.GetValue<bool>()))
            .ToImmutableArray();
        var info = new RelationInfo(0, schema, relation, Enum.Parse<ReplicaIdentity>(identity), columns);
        Cell[]? Row(string? json)
        {
            if (json is null) return null;
            var o = JsonNode.Parse(json)!.AsObject();
            return [.. columns.Select(c => !o.ContainsKey(c.Name) ? Cell.Unchanged : o[c.Name] is null ? Cell.Null : Cell.Of(o[c.Name]!.GetValue<string>()))];
        }
        return new RowChange(Enum.Parse<ChangeKind>(operation, ignoreCase: true), info, Row(oldJson), Row(newJson));
    }

    public static JsonArray ColumnsJson(RelationInfo relation) =>
        new([.. relation.Columns.Select(c => (JsonNode)new JsonObject { ["name"] = c.Name, ["key"] = c.IsKey, ["type"] = c.TypeOid })]);
}
