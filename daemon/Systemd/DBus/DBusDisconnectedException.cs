namespace UnifiedLlm.Daemon.Systemd.DBus;

/// <summary>The connection is closed (by the peer, by a read error, or by disposal); <see cref="Exception.InnerException"/> says why when known.</summary>
internal sealed class DBusDisconnectedException : DBusException
{
    public DBusDisconnectedException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}
