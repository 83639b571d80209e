namespace UnifiedLlm.Daemon.Systemd.DBus;

/// <summary>Header field codes of the <c>a(yv)</c> header array.</summary>
internal enum DBusHeaderField : byte
{
    Path = 1,
    Interface = 2,
    Member = 3,
    ErrorName = 4,
    ReplySerial = 5,
    Destination = 6,
    Sender = 7,
    Signature = 8,
    UnixFds = 9,
}
