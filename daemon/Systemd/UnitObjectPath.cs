using System.Text;

namespace UnifiedLlm.Daemon.Systemd;

/// <summary>The D-Bus object path systemd gives a unit (sd_bus_path_encode of the unit name).</summary>
internal static class UnitObjectPath
{
    public const string Prefix = "/org/freedesktop/systemd1/unit";

    /// <summary><c>ullm-a.service</c> → <c>/org/freedesktop/systemd1/unit/ullm_2da_2eservice</c>: bytes other than letters (and digits after the first) become _xx.</summary>
    public static string For(string unitName)
    {
        ArgumentException.ThrowIfNullOrEmpty(unitName);
        var result = new StringBuilder(Prefix.Length + 1 + unitName.Length * 3).Append(Prefix).Append('/');
        var bytes = Encoding.UTF8.GetBytes(unitName);
        for (var i = 0; i < bytes.Length; i++)
        {
            var c = (char)bytes[i];
            if (char.IsAsciiLetter(c) || (i > 0 && char.IsAsciiDigit(c)))
            {
                result.Append(c);
            }
            else
            {
                result.Append('_').Append(bytes[i].ToString("x2"));
            }
        }

        return result.ToString();
    }
}
