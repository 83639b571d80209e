namespace UnifiedLlm.Daemon.Systemd;

/// <summary>Names of the transient units ullmd starts: <c>ullm-&lt;escaped model&gt;-&lt;short id&gt;.service</c>.</summary>
internal static class UnitName
{
    public const string Prefix = "ullm-";
    public const string Suffix = ".service";
    public const string Pattern = "ullm-*";

    /// <summary>
    /// Longest name a sandboxed unit can start with: systemd accepts 255, but PrivateTmp= creates
    /// /tmp/systemd-private-&lt;boot id&gt;-&lt;unit&gt;-XXXXXX, a directory name that must fit NAME_MAX (255), so 199
    /// (seen on systemd 252: 199 starts, 200 fails with Result "resources").
    /// </summary>
    public const int MaxLength = 199;

    /// <summary>
    /// Builds the unit name. A long escaped model name is cut (never inside a \xNN sequence) to keep the whole name
    /// within <see cref="MaxLength"/>; the short id keeps such names distinct.
    /// </summary>
    public static string ForModel(string modelName, string shortId)
    {
        ArgumentException.ThrowIfNullOrEmpty(shortId);
        if (!shortId.All(char.IsAsciiLetterOrDigit))
        {
            throw new ArgumentException($"unit short id \"{shortId}\" must be ASCII letters and digits", nameof(shortId));
        }

        var room = MaxLength - Prefix.Length - 1 - shortId.Length - Suffix.Length;
        if (room < 1)
        {
            throw new ArgumentException($"unit short id \"{shortId}\" leaves no room for the model name", nameof(shortId));
        }

        var escaped = SystemdEscape.Escape(modelName);
        if (escaped.Length > room)
        {
            var cut = room;
            var escapeStart = escaped.LastIndexOf('\\', cut - 1);
            if (escapeStart >= 0 && escapeStart + 4 > cut)
            {
                cut = escapeStart;
            }

            escaped = escaped[..cut];
        }

        return $"{Prefix}{escaped}-{shortId}{Suffix}";
    }
}
