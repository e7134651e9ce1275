using NpgsqlTypes;
using PgMultiMaster.Configuration;
using PgMultiMaster.Progress;
using PgMultiMaster.Topology;

namespace PgMultiMaster.Tests.Progress;

/// <summary>Whether a link can prove it resumes exactly where its target left off (ADR 0013).</summary>
public sealed class ResumeCheckTests
{
    private static readonly Link Link = new ClusterTopology(new PgMultiMasterOptions
    {
        Cluster = "shop",
        Nodes = [new NodeOptions { Name = "east", ConnectionString = "Host=e" }, new NodeOptions { Name = "west", ConnectionString = "Host=w" }],
    }).LinksFrom("east").Single();

    private static SlotFacts Slot(ulong confirmed, ulong? recorded, bool exists = true, string walStatus = "reserved", string? reason = null, bool conflicting = false) =>
        new(Link.SlotName, exists, exists ? confirmed : 0, exists ? walStatus : null, reason, conflicting, recorded);

    private static string Lsn(ulong lsn) => new NpgsqlLogSequenceNumber(lsn).ToString();

    [Fact]
    public void A_slot_init_just_created_resumes_whatever_it_confirmed_while_idle()
    {
        Assert.Equal(ResumeVerdict.Resume, ResumeCheck.Decide(Link, Slot(confirmed: 0x5000, recorded: 0), progress: 0).Verdict);
    }

    [Fact]
    public void A_slot_without_a_record_made_before_the_record_existed_resumes()
    {
        Assert.Equal(ResumeVerdict.Resume, ResumeCheck.Decide(Link, Slot(confirmed: 0x5000, recorded: null), progress: 0x1000).Verdict);
    }

    [Fact]
    public void A_slot_confirmed_past_the_targets_progress_by_idle_WAL_and_echoes_resumes()
    {
        // Applied up to 0x3000 (recorded), then only WAL that held nothing for the target: the slot moved on alone.
        Assert.Equal(ResumeVerdict.Resume, ResumeCheck.Decide(Link, Slot(confirmed: 0x9000, recorded: 0x3000), progress: 0x3000).Verdict);
    }

    [Fact]
    public void A_record_ahead_of_the_slot_proves_nothing_lost_while_the_target_is_not_behind_the_slot()
    {
        // Recorded, then the worker stopped before confirming: the slot still holds everything after the target's progress.
        Assert.Equal(ResumeVerdict.Resume, ResumeCheck.Decide(Link, Slot(confirmed: 0x2000, recorded: 0x3000), progress: 0x2000).Verdict);
    }

    [Fact]
    public void A_target_behind_what_the_slot_let_go_of_is_a_gap_named_with_both_positions_and_the_way_out()
    {
        var (verdict, message) = ResumeCheck.Decide(Link, Slot(confirmed: 0x9000, recorded: 0x7000), progress: 0x3000);
        Assert.Equal(ResumeVerdict.Gap, verdict);
        Assert.Contains($"west's progress for origin shop_east is {Lsn(0x3000)}", message);
        Assert.Contains($"applied up to {Lsn(0x7000)} (confirmed_flush_lsn {Lsn(0x9000)})", message);
        Assert.Contains("on east run SELECT pg_drop_replication_slot('shop_east_west'); then run pgmm init", message);
        Assert.Contains("run pgmm diff", message);
    }

    [Fact]
    public void A_target_with_no_progress_left_is_a_gap_once_the_slot_let_go_of_applied_transactions()
    {
        Assert.Equal(ResumeVerdict.Gap, ResumeCheck.Decide(Link, Slot(confirmed: 0x9000, recorded: 0x7000), progress: 0).Verdict);
    }

    [Fact]
    public void A_dropped_slot_is_lost_and_one_never_created_waits_for_init()
    {
        var (verdict, message) = ResumeCheck.Decide(Link, Slot(0, recorded: 0x7000, exists: false), progress: 0x7000);
        Assert.Equal(ResumeVerdict.SlotLost, verdict);
        Assert.Contains("slot shop_east_west is gone (dropped) on east", message);
        Assert.DoesNotContain("pg_drop_replication_slot", message);
        Assert.Contains("run pgmm init (it creates the slot again), restart the worker of east", message);

        // No record, but the target applied from it: it existed.
        Assert.Equal(ResumeVerdict.SlotLost, ResumeCheck.Decide(Link, Slot(0, recorded: null, exists: false), progress: 0x100).Verdict);
        Assert.Equal(ResumeVerdict.NotCreated, ResumeCheck.Decide(Link, Slot(0, recorded: null, exists: false), progress: 0).Verdict);
    }

    [Theory]
    [InlineData("lost", null, false)]
    [InlineData("lost", "wal_removed", false)]
    [InlineData("reserved", "idle_timeout", false)]
    [InlineData("reserved", null, true)]
    public void An_invalidated_slot_is_lost_and_must_be_dropped_first(string walStatus, string? reason, bool conflicting)
    {
        var (verdict, message) = ResumeCheck.Decide(Link, Slot(0x9000, 0x7000, walStatus: walStatus, reason: reason, conflicting: conflicting), progress: 0x7000);
        Assert.Equal(ResumeVerdict.SlotLost, verdict);
        Assert.Contains("slot shop_east_west was invalidated", message);
        Assert.Contains("on east run SELECT pg_drop_replication_slot('shop_east_west')", message);
    }

    [Fact]
    public void A_source_whose_WAL_ends_before_the_targets_progress_went_back_in_time()
    {
        var (verdict, message) = ResumeCheck.Decide(Link, Slot(0x2000, 0x2000) with { SourceWalEnd = 0x2800 }, progress: 0x3000);
        Assert.Equal(ResumeVerdict.SourceBehind, verdict);
        Assert.Contains($"east's WAL ends at {Lsn(0x2800)}, before west's progress for origin shop_east ({Lsn(0x3000)})", message);
        Assert.Contains("on west run SELECT pg_replication_origin_drop('shop_east'); on east run SELECT pg_drop_replication_slot('shop_east_west')", message);
        // Its WAL at or past the progress: nothing to tell.
        Assert.Equal(ResumeVerdict.Resume, ResumeCheck.Decide(Link, Slot(0x2000, 0x2000) with { SourceWalEnd = 0x3000 }, progress: 0x3000).Verdict);
    }

    [Fact]
    public void A_slot_about_to_lose_WAL_still_resumes()
    {
        Assert.Equal(ResumeVerdict.Resume, ResumeCheck.Decide(Link, Slot(0x9000, 0x7000, walStatus: "unreserved"), progress: 0x7000).Verdict);
    }
}
