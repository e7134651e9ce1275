using PgMultiMaster.Configuration;
using PgMultiMaster.Decoding;

namespace PgMultiMaster.Conflicts;

/// <summary>When and on which node a row version (or a delete's tombstone) was committed.</summary>
/// <param name="CommitTimestamp">Null when unknown (frozen xmin, or written before commit timestamps were on): the oldest.</param>
public sealed record RowVersion(DateTime? CommitTimestamp, string Node)
{
    /// <summary>
    /// Total order of versions: commit timestamp, then node name so equal timestamps still have one winner
    /// on every node.
    /// </summary>
    public bool IsNewerThan(RowVersion? other)
    {
        if (other?.CommitTimestamp is null) return CommitTimestamp is not null || other is null || string.CompareOrdinal(Node, other.Node) > 0;
        if (CommitTimestamp is null) return false;
        var byTime = CommitTimestamp.Value.CompareTo(other.CommitTimestamp.Value);
        return byTime != 0 ? byTime > 0 : string.CompareOrdinal(Node, other.Node) > 0;
    }
}

/// <summary>
/// A detected conflict: the incoming change and what the target holds. Row values are PostgreSQL text forms in
/// the source relation's column order.
/// </summary>
/// <param name="Local">The local row, or null when there is none.</param>
/// <param name="LocalVersion">Version of the local row, or of the tombstone that deleted it, or null.</param>
public sealed record Conflict(
    ConflictType Type, RelationInfo Relation, string?[]? Local, RowVersion? LocalVersion,
    Cell[]? RemoteOld, Cell[]? RemoteNew, RowVersion RemoteVersion);

public enum Outcome
{
    /// <summary>The remote change wins: applied as sent (an update of a missing row becomes an insert).</summary>
    ApplyRemote,
    /// <summary>The local row stays as it is; the remote change is dropped (and logged).</summary>
    KeepLocal,
    /// <summary>Some columns from each side, per <see cref="Resolution.Columns"/>.</summary>
    Merge,
    /// <summary>The user's SQL function decides.</summary>
    CallFunction,
    /// <summary>Parked in pgmm.dead_letter for a person.</summary>
    DeadLetter,
}

/// <summary>Where one column's resolved value comes from.</summary>
public enum ColumnSource { Local, Remote, Delta }

/// <param name="Rule">Which configured rule decided, for the conflict log.</param>
/// <param name="Columns">Per column (source order) for <see cref="Outcome.Merge"/>.</param>
public sealed record Resolution(Outcome Outcome, string Rule, ColumnSource[]? Columns = null);
