using System.Globalization;
using System.Text;

namespace UnifiedLlm.Printing;

/// <summary>
/// Makes text from outside (a request's model, a key name, a backend's output, a daemon message echoing a client) safe
/// to print on a terminal: every C0 control character, DEL, every C1 control character (so ESC and CSI sequences,
/// title changes and screen clears) and the Unicode bidirectional overrides are shown as <c>\xHH</c> / <c>\uHHHH</c>
/// escapes instead of being interpreted. Only human output (ullmctl's, and <c>ullmd --doctor</c>'s) goes through it; <c>--json</c> prints values exactly.
/// </summary>
public static class TerminalText
{
    /// <param name="keepNewlines">Leave '\n' as is (for whole blocks whose lines ullmctl laid out itself).</param>
    public static string Escape(string text, bool keepNewlines = false)
    {
        var first = 0;
        while (first < text.Length && !NeedsEscape(text[first], keepNewlines))
        {
            first++;
        }

        if (first == text.Length)
        {
            return text;
        }

        var escaped = new StringBuilder(text.Length + 16).Append(text, 0, first);
        foreach (var c in text.AsSpan(first))
        {
            if (!NeedsEscape(c, keepNewlines))
            {
                escaped.Append(c);
            }
            else if (c < 0x80)
            {
                escaped.Append(c switch
                {
                    '\n' => "\\n",
                    '\r' => "\\r",
                    '\t' => "\\t",
                    _ => string.Create(CultureInfo.InvariantCulture, $"\\x{(int)c:x2}"),
                });
            }
            else
            {
                escaped.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
            }
        }

        return escaped.ToString();
    }

    private static bool NeedsEscape(char c, bool keepNewlines) =>
        (c < 0x20 && !(keepNewlines && c == '\n')) || c is >= '\u007f' and <= '\u009f' || c is >= '\u202a' and <= '\u202e' || c is >= '\u2066' and <= '\u2069';
}
