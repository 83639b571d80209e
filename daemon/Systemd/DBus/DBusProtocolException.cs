namespace UnifiedLlm.Daemon.Systemd.DBus;

/// <summary>Malformed or unexpected D-Bus data: a bad signature, a truncated or inconsistent message, a value of the wrong type.</summary>
internal sealed class DBusProtocolException : DBusException
{
    public DBusProtocolException(string message, int? offset = null)
        : base(offset is null ? message : $"{message} (at byte offset {offset})")
    {
        Offset = offset;
    }

    /// <summary>Byte offset in the message (or character offset in a signature) where the problem was found, when known.</summary>
    public int? Offset { get; }
}
