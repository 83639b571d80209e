namespace UnifiedLlm.Daemon.Systemd.DBus;

/// <summary>Size and nesting limits from the D-Bus specification, checked before anything is allocated.</summary>
internal static class DBusLimits
{
    public const int MaxMessageBytes = 128 * 1024 * 1024;
    public const int MaxArrayBytes = 64 * 1024 * 1024;
    public const int MaxSignatureLength = 255;
    public const int MaxArrayNesting = 32;
    public const int MaxStructNesting = 32;

    /// <summary>Total container depth of a value, variants included.</summary>
    public const int MaxTotalNesting = 64;
}
