using PgMultiMaster.Configuration;
using PgMultiMaster.Topology;

namespace PgMultiMaster.Tests.Topology;

public sealed class ClusterTopologyTests
{
    private static readonly ClusterTopology Topology = new(new PgMultiMasterOptions
    {
        Cluster = "shop",
        Nodes = [new() { Name = "east" }, new() { Name = "west" }, new() { Name = "north" }],
    });

    [Fact]
    public void Links_skip_as_echo_the_origins_of_every_node_even_one_that_joined_later_and_of_copies_and_repair_but_no_other()
    {
        Assert.All(["shop_east", "shop_north", "shop_south", "shop__repair", "shop__copy1"], o => Assert.True(Topology.IsClusterOrigin(o), o));
        Assert.All(["pg_16384", "shopx_east", "other_east", "shop"], o => Assert.False(Topology.IsClusterOrigin(o), o));
        Assert.True(Topology.IsClusterOrigin(Topology.RepairOriginName));
        Assert.True(Topology.IsClusterOrigin(Topology.CopyOriginName(3)));
        // Node names start with a letter: "shop_" + a node name never makes "shop__repair" or "shop__copy3".
        Assert.DoesNotContain(Topology.Options.Nodes, n => Topology.OriginName(n.Name) == Topology.RepairOriginName || Topology.OriginName(n.Name).StartsWith("shop__", StringComparison.Ordinal));
    }

    [Fact]
    public void A_worker_runs_one_link_to_every_peer()
    {
        var links = Topology.LinksFrom("west");
        Assert.Equal(["west->east", "west->north"], links.Select(l => l.ToString()));
        Assert.Equal(["shop_west_east", "shop_west_north"], links.Select(l => l.SlotName));
        Assert.All(links, l => Assert.Equal("shop_west", l.OriginName));
    }

    [Fact]
    public void A_full_mesh_of_three_has_six_links() => Assert.Equal(6, Topology.AllLinks().Select(l => l.SlotName).Distinct().Count());

    [Fact]
    public void Publications_are_named_after_the_cluster()
    {
        Assert.Equal("shop", Topology.Publication);
        Assert.Equal("shop_insert_only", Topology.InsertOnlyPublication);
    }

    [Fact]
    public void An_unknown_node_is_named() =>
        Assert.Contains("'south'", Assert.Throws<ArgumentException>(() => Topology.LinksFrom("south")).Message);
}
