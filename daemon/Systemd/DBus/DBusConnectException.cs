namespace UnifiedLlm.Daemon.Systemd.DBus;

/// <summary>No address of a D-Bus address string could be connected to and authenticated with; the message lists each attempt.</summary>
internal sealed class DBusConnectException : DBusException
{
    public DBusConnectException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}
