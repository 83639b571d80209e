namespace UnifiedLlm.Bench;

/// <summary>
/// bench/RESULTS.md holds one section per benchmark between its own markers; a run replaces its section and keeps the
/// others, so every benchmark can be rerun alone.
/// </summary>
internal static class ResultsFile
{
    public static void ReplaceSection(string file, string name, string section)
    {
        var begin = $"<!-- {name}:begin -->";
        var end = $"<!-- {name}:end -->";
        var body = $"{begin}\n{section.Trim('\n')}\n{end}";
        var existing = File.Exists(file) ? File.ReadAllText(file) : "# Benchmark results\n";
        var from = existing.IndexOf(begin, StringComparison.Ordinal);
        var to = existing.IndexOf(end, StringComparison.Ordinal);
        var updated = from >= 0 && to > from
            ? string.Concat(existing.AsSpan(0, from), body, existing.AsSpan(to + end.Length))
            : existing.TrimEnd('\n') + "\n\n" + body + "\n";
        File.WriteAllText(file, updated);
    }
}
