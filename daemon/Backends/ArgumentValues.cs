using System.Globalization;

namespace UnifiedLlm.Daemon.Backends;

/// <summary>Reads an option's value back from a command line, as the backends' own parsers take it (the last one wins).</summary>
internal static class ArgumentValues
{
    /// <summary>The last integer given to any of <paramref name="names"/>, as <c>--name N</c> or <c>--name=N</c>; null when none is.</summary>
    public static int? LastInt(IReadOnlyList<string> args, IReadOnlyList<string> names)
    {
        int? found = null;
        foreach (var text in Values(args, names))
        {
            if (int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && value > 0)
            {
                found = value;
            }
        }

        return found;
    }

    /// <summary>The last value given to any of <paramref name="names"/>, as <c>--name V</c> or <c>--name=V</c>; null when none is.</summary>
    public static string? LastString(IReadOnlyList<string> args, IReadOnlyList<string> names) => Values(args, names).LastOrDefault();

    /// <summary>Whether <paramref name="flag"/> is given, alone or as <c>--flag=V</c>.</summary>
    public static bool Has(IReadOnlyList<string> args, string flag) =>
        args.Any(a => a == flag || a.StartsWith(flag + "=", StringComparison.Ordinal));

    private static IEnumerable<string> Values(IReadOnlyList<string> args, IReadOnlyList<string> names)
    {
        for (var i = 0; i < args.Count; i++)
        {
            foreach (var name in names)
            {
                if (args[i] == name && i + 1 < args.Count)
                {
                    yield return args[i + 1];
                }
                else if (args[i].StartsWith(name + "=", StringComparison.Ordinal))
                {
                    yield return args[i][(name.Length + 1)..];
                }
            }
        }
    }
}
