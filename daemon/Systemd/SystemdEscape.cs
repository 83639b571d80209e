using System.Text;

namespace UnifiedLlm.Daemon.Systemd;

/// <summary>systemd-escape's default algorithm (unit_name_escape), reimplemented: the result is safe inside a unit name.</summary>
internal static class SystemdEscape
{
    /// <summary>'/' becomes '-'; [A-Za-z0-9:_.] stay (except a leading '.'); every other UTF-8 byte becomes \xNN.</summary>
    public static string Escape(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var result = new StringBuilder(value.Length);
        var bytes = Encoding.UTF8.GetBytes(value);
        for (var i = 0; i < bytes.Length; i++)
        {
            var b = bytes[i];
            if (b == '/')
            {
                result.Append('-');
            }
            else if (IsKept(b) && !(b == '.' && i == 0))
            {
                result.Append((char)b);
            }
            else
            {
                result.Append("\\x").Append(b.ToString("x2"));
            }
        }

        return result.ToString();
    }

    private static bool IsKept(byte b) => char.IsAsciiLetterOrDigit((char)b) || b is (byte)':' or (byte)'_' or (byte)'.';
}
