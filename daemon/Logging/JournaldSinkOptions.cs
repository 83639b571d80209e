namespace UnifiedLlm.Daemon.Logging;

/// <summary>Settings of <see cref="JournaldSink"/>; the defaults are what ullmd uses under systemd.</summary>
internal sealed record JournaldSinkOptions
{
    /// <summary>journald's native-protocol socket.</summary>
    public string SocketPath { get; init; } = JournaldDetection.DefaultSocketPath;

    /// <summary>SYSLOG_IDENTIFIER of every entry (what <c>journalctl -t</c> matches).</summary>
    public string SyslogIdentifier { get; init; } = "ullmd";

    /// <summary>
    /// How many scalar properties beyond the well-known ones (see <see cref="JournalEventFormatter"/>) become
    /// ULLM_* fields of one entry; the first ones in property order win. 0 turns them off.
    /// </summary>
    public int MaxOtherProperties { get; init; } = 16;

    /// <summary>Values of those other properties are cut to this many characters.</summary>
    public int MaxOtherPropertyLength { get; init; } = 1024;

    /// <summary>Formats message arguments and property values; null means the invariant culture.</summary>
    public IFormatProvider? FormatProvider { get; init; }
}
