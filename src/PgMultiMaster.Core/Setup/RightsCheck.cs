using PgMultiMaster.Configuration;
using PgMultiMaster.Sql;

namespace PgMultiMaster.Setup;

/// <summary>
/// Names every right the role of one node's connection string lacks, each with the statement that grants it — the
/// rights docs/security.md's role block grants, and nothing more: no superuser is needed.
/// </summary>
public static class RightsCheck
{
    public static IEnumerable<string> Problems(string node, NodeCatalog c, PgMultiMasterOptions options, IEnumerable<CatalogTable> replicated)
    {
        var r = c.Rights;
        var role = Quote.Ident(r.Role);
        var who = $"node '{node}': role '{r.Role}'";
        if (!r.CanReplicate)
            yield return $"{who} needs the REPLICATION attribute to create slots and stream: ALTER ROLE {role} REPLICATION; (run as a superuser)";
        foreach (var function in r.MissingOriginFunctions)
            yield return $"{who} may not run {function}, which replication origins need: GRANT EXECUTE ON FUNCTION pg_catalog.{function} TO {role};";
        if (options.Apply.ReplicaRole && !r.CanSetReplicaRole)
            yield return r.ServerVersion >= 150000
                ? $"{who} may not SET session_replication_role, which keeps triggers and foreign-key checks from firing twice for applied rows: " +
                  $"GRANT SET ON PARAMETER session_replication_role TO {role}; (or set {PgMultiMasterOptions.SectionName}:Apply:ReplicaRole to false)"
                : $"{who} may not SET session_replication_role, which keeps triggers and foreign-key checks from firing twice for applied rows; " +
                  $"on PostgreSQL {r.ServerVersion / 10000} only a superuser may: use one, or set {PgMultiMasterOptions.SectionName}:Apply:ReplicaRole to false";

        var topology = new Topology.ClusterTopology(options);
        if (!r.CanCreate && (!c.HasCatalog || !c.Publications.Contains(topology.Publication) || !c.Publications.Contains(topology.InsertOnlyPublication)))
            yield return $"{who} may not create the pgmm schema and the publications in database {Quote.Ident(r.Database)}: " +
                         $"GRANT CREATE ON DATABASE {Quote.Ident(r.Database)} TO {role};";
        // init upgrades the catalog in place (CREATE OR REPLACE), which only its owner may do.
        if (r.ForeignCatalog.Count > 0)
            yield return $"{who} does not own pgmm's catalog, which another role created ({string.Join(", ", r.ForeignCatalog.Select(f => $"{f.Name}: '{f.Owner}'"))}): " +
                         "run init as that role, or hand it over: " + string.Join(" ", r.ForeignCatalog.Select(f =>
                             $"ALTER {f.Kind.ToUpperInvariant()} {f.Name} OWNER TO {role};"));

        // Only a table's owner may add it to a publication and enable its triggers; the owner's rights also cover
        // every change apply makes. A member of the owning role has them.
        foreach (var owner in replicated.Where(t => !t.Owned).GroupBy(t => t.Owner))
            yield return $"{who} must own {string.Join(", ", owner.Select(t => Quote.Table(t.Schema, t.Name)))} (owner: '{owner.Key}'): " +
                         $"only an owner may publish a table and enable its triggers: GRANT {Quote.Ident(owner.Key)} TO {role};";
    }
}
