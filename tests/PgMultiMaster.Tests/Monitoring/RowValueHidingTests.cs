using System.Text.Json;
using PgMultiMaster.Monitoring;

namespace PgMultiMaster.Tests.Monitoring;

public sealed class RowValueHidingTests
{
    private static JsonElement Json(string json) => JsonDocument.Parse(json).RootElement.Clone();

    private static NodeStatus Node() => new()
    {
        Node = "west", Worker = "up",
        Links = [new LinkView("west", "east", "backing_off", null, null, null, null, null, 0, 0, 0, 0, 1,
            "22P02: invalid input syntax for type integer: \"alice\"", DateTimeOffset.UnixEpoch)],
        RecentConflicts = [new ConflictView(7, DateTimeOffset.UnixEpoch, "public.accounts", "update_origin_differs", "east",
            Json("""{"id": 1}"""), Json("""{"id": 1, "owner": "alice", "balance": 120}"""), Json("""{"id": 1, "owner": "alice", "balance": 99}"""),
            Json("""{"id": 1, "owner": "alice", "balance": 120}"""), "LastWriterWins", "keep_local")],
        RecentDeadLetters = [new DeadLetterView(3, DateTimeOffset.UnixEpoch, "east", "public.items", "insert",
            Json("""{"id": 1}"""), Json("""{"id": 1, "name": "alice"}"""), null,
            "22P02: invalid input syntax for type integer: \"alice\"", 2, "22P02: invalid input syntax for type integer: \"alice\"\n\nDETAIL: x")],
    };

    [Fact]
    public void Hidden_status_lists_conflicts_and_dead_letters_without_any_value()
    {
        var status = new ClusterStatus("c", DateTimeOffset.UnixEpoch, "west", [Node()]);
        Assert.Contains("alice", JsonSerializer.Serialize(status, StatusJson.Options), StringComparison.Ordinal);

        var hidden = RowValueHiding.Hide(status);

        var json = JsonSerializer.Serialize(hidden, StatusJson.Options);
        Assert.DoesNotContain("alice", json, StringComparison.Ordinal);
        Assert.DoesNotContain("balance", json, StringComparison.Ordinal);
        var root = Json(json);
        Assert.Equal("hidden", root.GetProperty("rowValues").GetString());
        var node = root.GetProperty("nodes")[0];
        Assert.Equal("hidden", node.GetProperty("rowValues").GetString());
        var conflict = Assert.Single(node.GetProperty("recentConflicts").EnumerateArray().ToList());
        Assert.Equal("public.accounts", conflict.GetProperty("table").GetString());
        Assert.Equal("keep_local", conflict.GetProperty("resolution").GetString());
        Assert.Equal(JsonValueKind.Null, conflict.GetProperty("localRow").ValueKind);
        var parked = Assert.Single(node.GetProperty("recentDeadLetters").EnumerateArray().ToList());
        Assert.Equal("22P02 (invalid_text_representation)", parked.GetProperty("reason").GetString());
        Assert.Equal("22P02 (invalid_text_representation)", node.GetProperty("links")[0].GetProperty("lastError").GetString());
    }

    [Fact]
    public void Status_shows_its_row_values_unless_hidden() =>
        Assert.Equal("shown", Json(JsonSerializer.Serialize(new ClusterStatus("c", DateTimeOffset.UnixEpoch, null, [Node()]), StatusJson.Options))
            .GetProperty("rowValues").GetString());
}
