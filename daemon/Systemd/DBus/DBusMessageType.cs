namespace UnifiedLlm.Daemon.Systemd.DBus;

internal enum DBusMessageType : byte
{
    MethodCall = 1,
    MethodReturn = 2,
    Error = 3,
    Signal = 4,
}
