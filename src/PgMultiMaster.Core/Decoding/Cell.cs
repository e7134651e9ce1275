namespace PgMultiMaster.Decoding;

public enum CellKind : byte { Null, Text, UnchangedToast }

/// <summary>One column value of a replicated row, in PostgreSQL's text form.</summary>
public readonly record struct Cell(CellKind Kind, string? Text)
{
    public static readonly Cell Null = new(CellKind.Null, null);
    public static readonly Cell Unchanged = new(CellKind.UnchangedToast, null);
    public static Cell Of(string text) => new(CellKind.Text, text);

    public bool IsUnchanged => Kind == CellKind.UnchangedToast;

    public override string ToString() => Kind switch { CellKind.Null => "NULL", CellKind.Text => Text!, _ => "(unchanged toast)" };
}
