using System.Collections.Immutable;
using BenchmarkDotNet.Attributes;
using PgMultiMaster.Apply;
using PgMultiMaster.Configuration;
using PgMultiMaster.Conflicts;
using PgMultiMaster.Decoding;
using PgMultiMaster.Monitoring;

namespace PgMultiMaster.Micro;

/// <summary>
/// The per-change work the worker does in process, for one row of a 4-column table (bigint key, text, numeric,
/// timestamptz): decoding its pgoutput message into a change, building the guarded SQL for it, evaluating the
/// conflict rules, counting it. Reading the messages off the socket is Npgsql's, measured end to end by
/// bench/PgMultiMaster.Bench (worker CPU per 100,000 rows).
/// </summary>
[MemoryDiagnoser]
public class HotPaths
{
    private static readonly string[] Texts = ["42", "d3d9446802a44259755d38e6d163e820pppppppppppppppppppppppppppppppppppppppppppppppppppppppp", "12.34", "2026-11-28 10:00:00.123456+00"];
    private RelationInfo _relation = null!;
    private TargetTable _table = null!;
    private ApplyContext _ctx = null!;
    private RowChange _update = null!;
    private RowChange _insert = null!;
    private List<RowChange> _run = null!;
    private Conflict _lww = null!, _merge = null!;
    private TableRules _lwwRules = null!, _mergeRules = null!;
    private List<PendingChange> _items = null!;
    private readonly LinkCounters _counters = new();
    private readonly ChangeDecoder _decoder = new();
    private byte[] _updateMessage = null!;

    [GlobalSetup]
    public void Setup()
    {
        _relation = new RelationInfo(16384, "public", "bulk", ReplicaIdentity.Default,
            [new ColumnInfo("id", 20, true), new ColumnInfo("payload", 25, false), new ColumnInfo("amount", 1700, false), new ColumnInfo("at", 1184, false)]);
        var options = new ConflictOptions();
        options.Tables["public.bulk"] = new TableConflictRule { Strategy = "ColumnMerge" };
        _lwwRules = new TableRules(new ConflictOptions(), "public.bulk");
        _mergeRules = new TableRules(options, "public.bulk");
        _table = new TargetTable(_relation, [0], false, ["bigint", "text", "numeric(12,2)", "timestamptz"], ["bigint", "text", "numeric(12,2)", "timestamptz"], ["=", "=", "=", "="], _lwwRules);
        _ctx = new ApplyContext
        {
            SourceNode = "east", OriginName = "pgmm_east", SourceRoident = 1,
            NodeByRoident = new Dictionary<uint, string> { [0] = "west", [1] = "east" },
            CommitTimestamp = DateTime.UtcNow, CommitLsn = 0x1_0000_0000,
        };
        _decoder.Decode(PgOutput.Relation(_relation));
        _updateMessage = PgOutput.Change('U', _relation.Id, Texts);
        _update = (RowChange)_decoder.Decode(_updateMessage)!;
        _insert = (RowChange)_decoder.Decode(PgOutput.Change('I', _relation.Id, Texts))!;
        _run = Enumerable.Range(0, 500).Select(i => new RowChange(ChangeKind.Insert, _relation, null,
            [Cell.Of(i.ToString(System.Globalization.CultureInfo.InvariantCulture)), Cell.Of(Texts[1]), Cell.Of(Texts[2]), Cell.Of(Texts[3])])).ToList();
        var local = new[] { "42", "local payload", "10.00", "2026-11-28 09:59:59+00" };
        var version = new RowVersion(DateTime.UtcNow.AddSeconds(-1), "west");
        _lww = new Conflict(ConflictType.UpdateOriginDiffers, _relation, local, version, null, _update.New, new RowVersion(DateTime.UtcNow, "east"));
        _merge = _lww with { RemoteOld = [Cell.Of("42"), Cell.Of("old payload"), Cell.Of("10.00"), Cell.Of("2026-11-28 09:59:59+00")] };
        _items = [.. _run.Select(c => new PendingChange(c))];
    }

    /// <summary>ChangeDecoder on one pgoutput Update message (the bytes after the replication header): an immutable change.</summary>
    [Benchmark]
    public ReplicationEvent? Decode() => _decoder.Decode(_updateMessage);

    /// <summary>The guarded UPDATE statement (SQL text and parameters) of one change.</summary>
    [Benchmark]
    public object GuardedUpdateSql() => ChangeStatements.Guarded(_table, _update, _ctx);

    [Benchmark]
    public object GuardedInsertSql() => ChangeStatements.Guarded(_table, _insert, _ctx);

    /// <summary>One set-based statement for a run of 500 inserts (per row: divide by 500).</summary>
    [Benchmark]
    public object InsertRunSql500() => ChangeStatements.InsertRun(_table, _run);

    /// <summary>Rule evaluation: last writer wins on an update conflict.</summary>
    [Benchmark]
    public Resolution ResolveLastWriterWins() => ConflictResolver.Resolve(_lww, _lwwRules);

    /// <summary>Rule evaluation: column merge (per-column comparison of old, local and remote).</summary>
    [Benchmark]
    public Resolution ResolveColumnMerge() => ConflictResolver.Resolve(_merge, _mergeRules);

    /// <summary>Counting a committed transaction of 500 rows for the metrics (per row: divide by 500).</summary>
    [Benchmark]
    public long CountRows500()
    {
        _counters.AddRows(_items);
        return _counters.Rows;
    }
}
