using System.Buffers.Text;

namespace UnifiedLlm.Daemon.Gateway;

/// <summary>Reads the escapes of a JSON string as it lies in the body, before it is decoded.</summary>
internal static class JsonEscapes
{
    /// <summary>
    /// Whether a string's raw bytes (escapes already checked well-formed by the reader) hold a <c>\uD800</c>–<c>\uDBFF</c>
    /// escape not followed at once by a <c>\uDC00</c>–<c>\uDFFF</c> one, or the second without the first: valid JSON
    /// grammar, but not text (RFC 8259 §8.2).
    /// </summary>
    public static bool HasUnpairedSurrogate(ReadOnlySpan<byte> raw)
    {
        var highPending = false;
        var i = 0;
        while (i < raw.Length)
        {
            var backslash = raw[i..].IndexOf((byte)'\\');
            if (backslash < 0)
            {
                return highPending;
            }

            if (highPending && backslash > 0)
            {
                return true;
            }

            i += backslash + 1;
            if (raw[i] != (byte)'u')
            {
                if (highPending)
                {
                    return true;
                }

                i++;
                continue;
            }

            // The reader has already refused an escape that is not four hex digits.
            var unit = Utf8Parser.TryParse(raw.Slice(i + 1, 4), out ushort parsed, out _, 'X') ? parsed : 0;
            i += 5;
            var isHigh = unit is >= 0xD800 and <= 0xDBFF;
            var isLow = unit is >= 0xDC00 and <= 0xDFFF;
            if (highPending != isLow)
            {
                return true;
            }

            highPending = isHigh;
        }

        return highPending;
    }
}
