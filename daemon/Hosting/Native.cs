using System.Runtime.InteropServices;

namespace UnifiedLlm.Daemon.Hosting;

/// <summary>The few libc calls .NET has no API for.</summary>
internal static partial class Native
{
    [LibraryImport("libc", EntryPoint = "chown", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Chown(string path, uint owner, uint group);

    [LibraryImport("libc", EntryPoint = "getgrnam_r", StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int GetGrNamR(string name, out GroupEntry group, byte* buffer, nuint length, out nint result);

    [LibraryImport("libc", EntryPoint = "geteuid")]
    public static partial uint GetEffectiveUserId();

    [LibraryImport("libc", EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static unsafe partial int Statx(int directoryFd, string path, int flags, uint mask, byte* buffer);

    public const int SocketTypeBits = 0xC000;

    /// <summary>
    /// The S_IFMT bits of a path, without following a final symlink, or null if it does not exist. statx is used
    /// because its struct layout, unlike struct stat's, is the same on every architecture.
    /// </summary>
    public static unsafe int? FileTypeBits(string path)
    {
        const int AtFdCwd = -100;
        const int AtSymlinkNoFollow = 0x100;
        const uint StatxType = 1;
        var buffer = stackalloc byte[256];
        if (Statx(AtFdCwd, path, AtSymlinkNoFollow, StatxType, buffer) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            return errno == 2 ? null : throw new IOException($"statx {path} failed: {Marshal.GetPInvokeErrorMessage(errno)}");
        }

        return *(ushort*)(buffer + 28) & 0xF000;
    }

    /// <summary>
    /// Owner, group and permission bits (the low 12 bits of st_mode) of a path, following symbolic links, or null if
    /// it does not exist.
    /// </summary>
    public static unsafe (uint Owner, uint Group, UnixFileMode Mode)? Ownership(string path)
    {
        const int AtFdCwd = -100;
        const uint StatxMode = 2, StatxUid = 8, StatxGid = 0x10;
        var buffer = stackalloc byte[256];
        if (Statx(AtFdCwd, path, 0, StatxMode | StatxUid | StatxGid, buffer) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            return errno == 2 ? null : throw new IOException($"statx {path} failed: {Marshal.GetPInvokeErrorMessage(errno)}");
        }

        return (*(uint*)(buffer + 20), *(uint*)(buffer + 24), (UnixFileMode)(*(ushort*)(buffer + 28) & 0xFFF));
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct GroupEntry
    {
        public nint Name;
        public nint Password;
        public uint Gid;
        public nint Members;
    }

    public static void ChangeOwner(string path, uint owner, uint group)
    {
        if (Chown(path, owner, group) != 0)
        {
            throw new IOException($"chown {path} to {owner}:{group} failed: {Marshal.GetLastPInvokeErrorMessage()}");
        }
    }

    /// <summary>The gid of a group name through NSS, or null when no such group exists.</summary>
    public static unsafe uint? GroupId(string name)
    {
        for (var size = 1024; size <= 1 << 20; size *= 4)
        {
            var buffer = new byte[size];
            fixed (byte* p = buffer)
            {
                var rc = GetGrNamR(name, out var entry, p, (nuint)size, out var result);
                if (rc == 34)
                {
                    continue;
                }

                return rc == 0 && result != 0 ? entry.Gid : null;
            }
        }

        return null;
    }
}
