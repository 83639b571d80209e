using System.Text.RegularExpressions;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Config;

/// <summary>
/// packaging/config.example.toml shows every key the loader accepts, set or as a commented-out <c># key = …</c> line, as
/// README and docs/configuration.md promise. The accepted keys are the loader's own (<see cref="ConfigLoader.AcceptedKeys"/>),
/// read from the example with its commented-out table headers made real, so that the loader reads those tables too.
/// </summary>
public sealed partial class ExampleConfigTests
{
    private static readonly string[] Lines = File.ReadAllLines(RepoPaths.InRepo("packaging", "config.example.toml"));

    [Fact]
    public void Every_key_the_loader_accepts_is_set_or_commented_in_the_example()
    {
        var tables = AcceptedKeys();
        var patternOf = tables.GroupBy(t => t.Path).ToDictionary(g => g.Key, g => g.First().Pattern);
        var shown = tables.GroupBy(t => t.Pattern).ToDictionary(
            g => g.Key,
            g => g.SelectMany(t => t.Set)
                .Concat(KeyLines().Where(k => k.Commented && patternOf.GetValueOrDefault(k.Path) == g.Key).Select(k => k.Key))
                .ToHashSet(StringComparer.Ordinal));

        var missing = tables.SelectMany(t => t.Accepted.Where(k => !shown[t.Pattern].Contains(k)).Select(k => Dotted(t.Pattern, k)))
            .Distinct().Order(StringComparer.Ordinal).ToList();

        Assert.True(tables.Count > 20, $"the loader reported only {tables.Count} tables of the example");
        Assert.True(missing.Count == 0, "accepted by the loader but neither set nor commented out in packaging/config.example.toml: " + string.Join(", ", missing));
    }

    [Fact]
    public void Every_commented_out_key_is_one_the_loader_accepts_in_its_table()
    {
        var accepted = AcceptedKeys().GroupBy(t => t.Path).ToDictionary(g => g.Key, g => g.First().Accepted);

        var wrong = KeyLines().Where(k => k.Commented && accepted.TryGetValue(k.Path, out var keys) && !keys.Contains(k.Key))
            .Select(k => $"line {k.Line}: {Dotted(k.Path, k.Key)}").ToList();

        Assert.True(wrong.Count == 0, "commented out in packaging/config.example.toml but not accepted there: " + string.Join(", ", wrong));
    }

    [Fact]
    public void A_commented_out_table_has_only_commented_out_keys()
    {
        // Otherwise a key that reads as the commented table's would belong to the table above it.
        var stray = KeyLines().Where(k => k.InCommentedTable && !k.Commented).Select(k => $"line {k.Line}: {k.Key}").ToList();

        Assert.True(stray.Count == 0, "set keys under a commented-out table header: " + string.Join(", ", stray));
    }

    private static IReadOnlyList<TableKeys> AcceptedKeys()
    {
        var withHeaders = Lines.Select(l => Header().Match(l) is { Success: true, Groups: var g } && g["hash"].Success ? $"[{g["path"].Value}]" : l);
        return ConfigLoader.AcceptedKeys(string.Join('\n', withHeaders), "config.example.toml");
    }

    /// <summary>Each <c>key = …</c> line, set or commented out, with the table it is under.</summary>
    private static IEnumerable<(int Line, string Path, string Key, bool Commented, bool InCommentedTable)> KeyLines()
    {
        var (path, commentedTable) = ("", false);
        for (var i = 0; i < Lines.Length; i++)
        {
            if (Header().Match(Lines[i]) is { Success: true } header)
            {
                (path, commentedTable) = (Regex.Replace(header.Groups["path"].Value, @"\s", ""), header.Groups["hash"].Success);
            }
            else if (KeyLine().Match(Lines[i]) is { Success: true } key)
            {
                yield return (i + 1, path, key.Groups["key"].Value, key.Groups["hash"].Success, commentedTable);
            }
        }
    }

    private static string Dotted(string path, string key) => path.Length == 0 ? key : $"{path}.{key}";

    [GeneratedRegex(@"^\s*(?<hash>#\s*)?\[(?<path>[^\[\]]+)\]\s*(#.*)?$")]
    private static partial Regex Header();

    [GeneratedRegex(@"^\s*(?<hash>#\s*)?(?<key>[A-Za-z0-9_-]+)\s*=")]
    private static partial Regex KeyLine();
}
