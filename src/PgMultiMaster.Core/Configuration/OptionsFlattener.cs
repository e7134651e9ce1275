using System.Globalization;

namespace PgMultiMaster.Configuration;

/// <summary>Options as configuration key/value pairs, so in-memory options pass through the same binding as a file.</summary>
public static class OptionsFlattener
{
    public static IEnumerable<KeyValuePair<string, string?>> Flatten(PgMultiMasterOptions o)
    {
        const string s = PgMultiMasterOptions.SectionName;
        yield return new($"{s}:Cluster", o.Cluster);
        yield return new($"{s}:Node", o.Node);
        for (var i = 0; i < o.Nodes.Count; i++)
        {
            yield return new($"{s}:Nodes:{i}:Name", o.Nodes[i].Name);
            yield return new($"{s}:Nodes:{i}:ConnectionString", o.Nodes[i].ConnectionString);
        }
        for (var i = 0; i < o.Tables.Count; i++) yield return new($"{s}:Tables:{i}", o.Tables[i]);
        for (var i = 0; i < o.InsertOnlyTables.Count; i++) yield return new($"{s}:InsertOnlyTables:{i}", o.InsertOnlyTables[i]);
        yield return new($"{s}:Apply:BatchSize", o.Apply.BatchSize.ToString(CultureInfo.InvariantCulture));
        yield return new($"{s}:Apply:FeedbackInterval", o.Apply.FeedbackInterval.ToString("c", CultureInfo.InvariantCulture));
        yield return new($"{s}:Apply:MaxRetryDelay", o.Apply.MaxRetryDelay.ToString("c", CultureInfo.InvariantCulture));
        yield return new($"{s}:Apply:ReplicaRole", o.Apply.ReplicaRole.ToString(CultureInfo.InvariantCulture));
    }
}
