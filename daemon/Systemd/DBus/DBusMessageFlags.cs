namespace UnifiedLlm.Daemon.Systemd.DBus;

[Flags]
internal enum DBusMessageFlags : byte
{
    None = 0,
    NoReplyExpected = 0x1,
    NoAutoStart = 0x2,
    AllowInteractiveAuthorization = 0x4,
}
