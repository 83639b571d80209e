namespace UnifiedLlm.Daemon.Systemd.DBus;

/// <summary>The peer answered a method call with an ERROR message.</summary>
internal sealed class DBusErrorException : DBusException
{
    public DBusErrorException(string errorName, string errorMessage)
        : base($"{errorName}: {errorMessage}")
    {
        ErrorName = errorName;
        ErrorMessage = errorMessage;
    }

    /// <summary>The D-Bus error name, e.g. <c>org.freedesktop.systemd1.NoSuchUnit</c>.</summary>
    public string ErrorName { get; }

    /// <summary>The human-readable text the peer sent (first body argument), or empty.</summary>
    public string ErrorMessage { get; }

    public static DBusErrorException FromReply(DBusMessage reply)
    {
        var text = reply.Body.Count > 0 && reply.Body[0] is DBusString s ? s.Value : string.Empty;
        return new DBusErrorException(reply.ErrorName ?? "(no error name)", text);
    }
}
