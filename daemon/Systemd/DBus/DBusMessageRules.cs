namespace UnifiedLlm.Daemon.Systemd.DBus;

/// <summary>Which header fields each message type must carry (shared by the writer and the reader).</summary>
internal static class DBusMessageRules
{
    /// <summary>The name of the first required header field the message lacks, or null when complete.</summary>
    public static string? MissingRequiredField(DBusMessage message) => message.Type switch
    {
        DBusMessageType.MethodCall when message.Path is null => "PATH",
        DBusMessageType.MethodCall when message.Member is null => "MEMBER",
        DBusMessageType.Signal when message.Path is null => "PATH",
        DBusMessageType.Signal when message.Interface is null => "INTERFACE",
        DBusMessageType.Signal when message.Member is null => "MEMBER",
        DBusMessageType.Error when message.ErrorName is null => "ERROR_NAME",
        DBusMessageType.Error or DBusMessageType.MethodReturn when message.ReplySerial is null => "REPLY_SERIAL",
        _ => null,
    };
}
