namespace UnifiedLlm.Daemon.Systemd.DBus;

/// <summary>Base of every error this D-Bus client raises, so callers can catch the whole family at once.</summary>
internal abstract class DBusException : Exception
{
    protected DBusException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}
