using System.Text;

namespace UnifiedLlm.Daemon.Logging;

/// <summary>
/// Journal field names: 1–64 characters of [A-Z0-9_], starting with a letter. A leading underscore is legal in the
/// journal but marks fields journald itself sets (trusted fields), which it drops when a client sends them, so it is
/// refused here too.
/// </summary>
internal static class JournalFieldName
{
    public const int MaxLength = 64;

    public static bool IsValid(ReadOnlySpan<char> name)
    {
        if (name.IsEmpty || name.Length > MaxLength || !char.IsAsciiLetterUpper(name[0]))
        {
            return false;
        }

        foreach (var c in name)
        {
            if (!char.IsAsciiLetterUpper(c) && !char.IsAsciiDigit(c) && c != '_')
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Maps a Serilog property name to a field name: <paramref name="prefix"/> + the name in upper snake case
    /// (<c>RequestId</c> → <c>REQUEST_ID</c>, <c>HTTPStatus</c> → <c>HTTP_STATUS</c>, <c>gpu.index</c> → <c>GPU_INDEX</c>).
    /// Other ASCII characters become word breaks. Returns null when the name has a non-ASCII character, when
    /// nothing valid remains, or when the result is longer than <see cref="MaxLength"/>: such properties are
    /// dropped, never transliterated or truncated, so two properties cannot end up in one field by accident.
    /// </summary>
    public static string? FromPropertyName(string propertyName, string prefix)
    {
        if (!Ascii.IsValid(propertyName))
        {
            return null;
        }

        var builder = new StringBuilder(prefix.Length + propertyName.Length + 8);
        builder.Append(prefix);
        var pendingBreak = false;
        for (var i = 0; i < propertyName.Length; i++)
        {
            var c = propertyName[i];
            if (!char.IsAsciiLetterOrDigit(c))
            {
                pendingBreak = true;
                continue;
            }

            if (char.IsAsciiLetterUpper(c) && i > 0 && StartsNewWord(propertyName, i))
            {
                pendingBreak = true;
            }

            if (pendingBreak && builder.Length > prefix.Length)
            {
                builder.Append('_');
            }

            pendingBreak = false;
            builder.Append(char.ToUpperInvariant(c));
        }

        if (builder.Length == prefix.Length)
        {
            return null;
        }

        var name = builder.ToString();
        return IsValid(name) ? name : null;
    }

    // An upper-case letter starts a word after a lower-case letter or digit ("requestId"), or when it is the last
    // capital of an acronym followed by a lower-case letter ("HTTPStatus" → HTTP_STATUS).
    private static bool StartsNewWord(string name, int index)
    {
        var previous = name[index - 1];
        if (char.IsAsciiLetterLower(previous) || char.IsAsciiDigit(previous))
        {
            return true;
        }

        return char.IsAsciiLetterUpper(previous) && index + 1 < name.Length && char.IsAsciiLetterLower(name[index + 1]);
    }
}
