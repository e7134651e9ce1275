using PgMultiMaster.Configuration;
using PgMultiMaster.Membership;
using PgMultiMaster.Topology;

namespace PgMultiMaster.Tests.Membership;

public sealed class RemovalPlanTests
{
    private static ClusterTopology Cluster(params string[] nodes) =>
        new(new PgMultiMasterOptions { Cluster = "shop", Nodes = nodes.Select(n => new NodeOptions { Name = n }).ToList() });

    [Fact]
    public void Removing_a_node_of_three_touches_its_links_both_ways_and_drains_the_survivors_links()
    {
        var plan = RemovalPlan.Create(Cluster("east", "west", "north"), "north");
        Assert.Equal(["east", "west"], plan.Survivors.Select(s => s.Name));
        Assert.Equal(["shop_north_east", "shop_north_west"], plan.Outgoing.Select(l => l.SlotName));
        Assert.Equal(["shop_east_north", "shop_west_north"], plan.Incoming.Select(l => l.SlotName));
        Assert.Equal(["east->west", "west->east"], plan.Remaining.Select(l => l.ToString()));
        Assert.Equal("shop_north", plan.Origin);
    }

    [Fact]
    public void An_unknown_name_is_refused_with_the_nearest_one()
    {
        var e = Assert.Throws<RemovalRefusedException>(() => RemovalPlan.Create(Cluster("east", "west", "north"), "nort"));
        Assert.Equal("no node named 'nort' in PgMultiMaster:Nodes; did you mean 'north'?", e.Message);
        e = Assert.Throws<RemovalRefusedException>(() => RemovalPlan.Create(Cluster("east", "west", "north"), "somewhere"));
        Assert.Equal("no node named 'somewhere' in PgMultiMaster:Nodes (one of east, west, north).", e.Message);
    }

    [Fact]
    public void A_cluster_of_two_keeps_both_nodes()
    {
        var e = Assert.Throws<RemovalRefusedException>(() => RemovalPlan.Create(Cluster("east", "west"), "west"));
        Assert.StartsWith("the cluster has 2 nodes (east, west), and it needs at least two", e.Message);
        Assert.Contains("pgmm uninstall --yes", e.Message);
    }
}
