namespace UnifiedLlm.Daemon.Config;

/// <summary>
/// Where a TOML document nests arrays and inline tables deepest. Tomlyn's parser stops at its depth limit by throwing
/// without a position, and counts the enclosing table and dotted keys as levels too, so the deepest bracket is the
/// place to report rather than a count of brackets against that limit.
/// </summary>
internal static class TomlNesting
{
    /// <summary>The line and column of the first bracket at the document's greatest nesting; null when it has none.</summary>
    public static (int Line, int Column)? FindDeepest(string text)
    {
        var (depth, line, lineStart) = (0, 1, 0);
        var (deepest, at) = (0, ((int Line, int Column)?)null);
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
                case '[' or '{' when ++depth > deepest:
                    (deepest, at) = (depth, (line, i - lineStart + 1));
                    break;
                case ']' or '}':
                    depth = Math.Max(0, depth - 1);
                    break;
            }
        }

        return at;
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
