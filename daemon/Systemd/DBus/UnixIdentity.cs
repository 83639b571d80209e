using System.Runtime.InteropServices;

namespace UnifiedLlm.Daemon.Systemd.DBus;

/// <summary>The effective uid, which is what a D-Bus server sees through SO_PEERCRED and expects in AUTH EXTERNAL.</summary>
internal static partial class UnixIdentity
{
    public static uint EffectiveUserId() => GetEffectiveUserId();

    [LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint GetEffectiveUserId();
}
