using System.Globalization;

namespace UnifiedLlm.Daemon.Backends;

/// <summary>Reads an option's value back from a command line, as the backends' own parsers take it (the last one wins).</summary>
internal static class ArgumentValues
{
    /// <summary>The last integer given to any of <paramref name="names"/>, as <c>--name N</c> or <c>--name=N</c>; null when none is.</summary>
    public static int? LastInt(IReadOnlyList<string> args, IReadOnlyList<string> names)
    {
        int? found = null;
        for (var i = 0; i < args.Count; i++)
        {
            string? text = null;
            foreach (var name in names)
            {
                if (args[i] == name && i + 1 < args.Count)
                {
                    text = args[i + 1];
                }
                else if (args[i].StartsWith(name + "=", StringComparison.Ordinal))
                {
                    text = args[i][(name.Length + 1)..];
                }
            }

            if (text is not null && int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && value > 0)
            {
                found = value;
            }
        }

        return found;
    }
}
