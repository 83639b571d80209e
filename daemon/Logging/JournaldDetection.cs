using System.Globalization;
using static UnifiedLlm.Daemon.Logging.JournalNative;

namespace UnifiedLlm.Daemon.Logging;

/// <summary>Decides whether ullmd should log to journald rather than to stderr.</summary>
internal static unsafe class JournaldDetection
{
    public const string DefaultSocketPath = "/run/systemd/journal/socket";
    public const string JournalStreamVariable = "JOURNAL_STREAM";

    /// <summary>
    /// An explicit setting wins; otherwise log to journald when stderr is already connected to the journal
    /// (<see cref="StderrIsJournalStream(string?)"/> with the process's <c>$JOURNAL_STREAM</c>) and
    /// <paramref name="socketPath"/> exists.
    /// </summary>
    public static bool ShouldLogToJournal(bool? configured, string socketPath = DefaultSocketPath) =>
        configured ?? (StderrIsJournalStream(Environment.GetEnvironmentVariable(JournalStreamVariable)) && SocketExists(socketPath));

    /// <summary>
    /// True when <paramref name="journalStream"/> (systemd's <c>$JOURNAL_STREAM</c>, "st_dev:st_ino" in decimal)
    /// names the file that fd 2 is. systemd sets the variable for services whose stdout or stderr goes to the
    /// journal; a child whose stderr was redirected elsewhere inherits it, hence the comparison.
    /// </summary>
    public static bool StderrIsJournalStream(string? journalStream)
    {
        if (!TryParseJournalStream(journalStream, out var device, out var inode) || !OperatingSystem.IsLinux())
        {
            return false;
        }

        var stat = stackalloc byte[StatBufferSize];
        if (Fstat(2, stat) != 0)
        {
            return false;
        }

        return *(ulong*)stat == device && *(ulong*)(stat + 8) == inode;
    }

    /// <summary>Parses "device:inode" (both unsigned decimal); false for anything else.</summary>
    public static bool TryParseJournalStream(string? journalStream, out ulong device, out ulong inode)
    {
        device = inode = 0;
        var value = journalStream.AsSpan();
        var colon = value.IndexOf(':');
        return colon > 0
            && ulong.TryParse(value[..colon], NumberStyles.None, CultureInfo.InvariantCulture, out device)
            && ulong.TryParse(value[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out inode);
    }

    /// <summary>Whether something that is not a directory exists at the path (journald creates it at start).</summary>
    public static bool SocketExists(string socketPath) => File.Exists(socketPath);
}
