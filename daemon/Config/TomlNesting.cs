namespace UnifiedLlm.Daemon.Config;

/// <summary>
/// Where a TOML value nests arrays and inline tables deeper than a limit. Tomlyn's parser stops at its depth limit by
/// throwing without a position; this finds the line and column to report.
/// </summary>
internal static class TomlNesting
{
    public static (int Line, int Column)? FindDeeperThan(string text, int limit)
    {
        var (depth, line, lineStart) = (0, 1, 0);
        for (var i = 0; i < text.Length; i++)
        {
            switch (text[i])
            {
                case '\n':
                    (line, lineStart) = (line + 1, i + 1);
                    break;
                case '#':
                    i = NextLineBreak(text, i) - 1;
                    break;
                case '"' or '\'':
                    i = StringEnd(text, i, ref line, ref lineStart);
                    break;
                case '[' or '{' when ++depth > limit:
                    return (line, i - lineStart + 1);
                case ']' or '}':
                    depth = Math.Max(0, depth - 1);
                    break;
            }
        }

        return null;
    }

    private static int NextLineBreak(string text, int from)
    {
        var at = text.IndexOf('\n', from);
        return at < 0 ? text.Length : at;
    }

    /// <summary>The index of the string's last quote (basic or literal, single or triple), counting the lines it spans.</summary>
    private static int StringEnd(string text, int start, ref int line, ref int lineStart)
    {
        var quote = text[start];
        var close = start + 2 < text.Length && text[start + 1] == quote && text[start + 2] == quote ? new string(quote, 3) : quote.ToString();
        for (var i = start + close.Length; i < text.Length; i++)
        {
            if (text[i] == '\\' && quote == '"')
            {
                i++;
            }
            else if (text[i] == '\n')
            {
                (line, lineStart) = (line + 1, i + 1);
            }
            else if (string.CompareOrdinal(text, i, close, 0, close.Length) == 0)
            {
                return i + close.Length - 1;
            }
        }

        return text.Length;
    }
}
