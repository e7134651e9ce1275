namespace PgMultiMaster.Configuration;

/// <summary>The closest of some names to a misspelt one, for "did you mean …?" in configuration and usage errors.</summary>
public static class Nearest
{
    /// <summary>
    /// The candidate with the fewest single-character edits (insert, delete, replace) from <paramref name="name"/>,
    /// compared case-insensitively as .NET configuration compares keys; ties go to the first listed. Null when there
    /// are no candidates.
    /// </summary>
    public static string? Of(string name, IEnumerable<string> candidates)
    {
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var candidate in candidates)
        {
            var distance = EditDistance(name.ToUpperInvariant(), candidate.ToUpperInvariant());
            if (distance < bestDistance) (best, bestDistance) = (candidate, distance);
        }
        return best;
    }

    /// <summary>Levenshtein distance, one row at a time.</summary>
    public static int EditDistance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++) previous[j] = j;
        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            (previous, current) = (current, previous);
        }
        return previous[b.Length];
    }
}
