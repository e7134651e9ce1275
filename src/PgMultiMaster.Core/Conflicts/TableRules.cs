using PgMultiMaster.Configuration;

namespace PgMultiMaster.Conflicts;

/// <summary>The rules that apply to one table: the most specific configured scope wins.</summary>
public sealed class TableRules
{
    private readonly ConflictRule _default;
    private readonly TableConflictRule? _table;

    private readonly bool _forced;

    public TableRules(ConflictOptions options, string qualifiedTable) : this(options, qualifiedTable, forced: false) { }

    private TableRules(ConflictOptions options, string qualifiedTable, bool forced)
    {
        _default = options.Default;
        _table = options.Tables.GetValueOrDefault(qualifiedTable);
        Table = qualifiedTable;
        _forced = forced;
    }

    public string Table { get; }

    /// <summary>
    /// For a change a person asked to retry: applied as sent, whatever conflict remains — but a counter stays a counter:
    /// Delta columns (and the columns of a Delta table) still add new − old to the local value.
    /// </summary>
    public static TableRules Forced(ConflictOptions options, string qualifiedTable) => new(options, qualifiedTable, forced: true);

    /// <summary>table Types[type] → table Strategy → default Types[type] → default Strategy.</summary>
    public (Strategy Strategy, ConflictRule Rule, string Scope) For(ConflictType type)
    {
        if (_forced)
            return type == ConflictType.UpdateOriginDiffers && TableIsDelta
                ? (Strategy.Delta, _default, $"{Table}: retried by hand, Delta")
                : (Strategy.ApplyRemote, _default, $"{Table}: retried by hand");
        var name = type.Name();
        if (_table is not null)
        {
            if (_table.Types.TryGetValue(name, out var t)) return (Enum.Parse<Strategy>(t), Merged(_table), $"{Table} {name}: {t}");
            if (_table.Strategy is not null) return (Enum.Parse<Strategy>(_table.Strategy), Merged(_table), $"{Table}: {_table.Strategy}");
        }
        if (_default.Types.TryGetValue(name, out var d)) return (Enum.Parse<Strategy>(d), _default, $"default {name}: {d}");
        return (Enum.Parse<Strategy>(_default.Strategy ?? nameof(Strategy.LastWriterWins)), _default, $"default: {_default.Strategy}");
    }

    // A table rule without its own priority list or function uses the default's.
    private ConflictRule Merged(TableConflictRule table) => new()
    {
        Strategy = table.Strategy,
        Priority = table.Priority.Count > 0 ? table.Priority : _default.Priority,
        Function = table.Function ?? _default.Function,
        Types = table.Types,
    };

    public IReadOnlyDictionary<string, string> Columns =>
        _forced ? (_table?.Columns ?? []).Where(c => c.Value == nameof(Strategy.Delta)).ToDictionary() : _table?.Columns ?? [];

    public IEnumerable<string> DeltaColumns =>
        Columns.Where(c => c.Value == nameof(Strategy.Delta)).Select(c => c.Key);

    public bool TableIsDelta => _table?.Strategy == nameof(Strategy.Delta);
}
