using System.Runtime.InteropServices;

namespace UnifiedLlm.Daemon.Logging;

/// <summary>
/// The libc calls and structures the journal transport needs, laid out for 64-bit Linux (x86_64 and arm64 share
/// these layouts and constants; <see cref="EnsureSupportedPlatform"/> refuses anything else).
/// </summary>
internal static unsafe partial class JournalNative
{
    public const int SolSocket = 1;
    public const int ScmRights = 1;
    public const int MsgDontWait = 0x40;
    public const int MsgNoSignal = 0x4000;

    public const int ENOENT = 2;
    public const int EINTR = 4;
    public const int EAGAIN = 11;
    public const int EMSGSIZE = 90;
    public const int ENOBUFS = 105;
    public const int ECONNREFUSED = 111;

    public const uint MfdCloexec = 0x1;
    public const uint MfdAllowSealing = 0x2;
    public const int FAddSeals = 1033;
    public const int FGetSeals = 1034;
    public const int FSealSeal = 0x1;
    public const int FSealShrink = 0x2;
    public const int FSealGrow = 0x4;
    public const int FSealWrite = 0x8;

    /// <summary>offsetof(struct sockaddr_un, sun_path) and sizeof(sun_path).</summary>
    public const int SockaddrUnPathOffset = 2;
    public const int SockaddrUnPathSize = 108;
    public const ushort AfUnix = 1;

    private const string LibC = "libc";

    /// <summary>struct iovec.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct IoVector
    {
        public void* Base;
        public nuint Length;
    }

    /// <summary>struct msghdr: 56 bytes, socklen_t msg_namelen padded to 8.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct MessageHeader
    {
        public void* Name;
        public uint NameLength;
        public IoVector* Iov;
        public nuint IovLength;
        public void* Control;
        public nuint ControlLength;
        public int Flags;
    }

    /// <summary>struct cmsghdr: 16 bytes; the data follows, and CMSG_ALIGN rounds to 8.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct ControlMessageHeader
    {
        public nuint Length;
        public int Level;
        public int Type;
    }

    /// <summary>CMSG_LEN(sizeof(int)): header plus one file descriptor.</summary>
    public static int ControlLengthForOneFd => sizeof(ControlMessageHeader) + sizeof(int);

    /// <summary>CMSG_SPACE(sizeof(int)): CMSG_LEN rounded up to 8.</summary>
    public static int ControlSpaceForOneFd => (ControlLengthForOneFd + 7) & ~7;

    public static void EnsureSupportedPlatform()
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture is not (Architecture.X64 or Architecture.Arm64))
        {
            throw new PlatformNotSupportedException($"the journal transport supports Linux on x86_64 and arm64, not {RuntimeInformation.OSDescription} on {RuntimeInformation.ProcessArchitecture}");
        }
    }

    [LibraryImport(LibC, EntryPoint = "sendmsg", SetLastError = true)]
    public static partial nint SendMessage(SafeHandle socket, MessageHeader* message, int flags);

    [LibraryImport(LibC, EntryPoint = "memfd_create", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int MemfdCreate(string name, uint flags);

    [LibraryImport(LibC, EntryPoint = "write", SetLastError = true)]
    public static partial nint Write(SafeHandle fd, byte* buffer, nuint count);

    [LibraryImport(LibC, EntryPoint = "fcntl", SetLastError = true)]
    public static partial int Fcntl(SafeHandle fd, int command, int argument);

    /// <summary>fstat into a caller-provided buffer (see <see cref="StatBufferSize"/>).</summary>
    [LibraryImport(LibC, EntryPoint = "fstat", SetLastError = true)]
    public static partial int Fstat(int fd, byte* statBuffer);

    /// <summary>
    /// Room for struct stat (144 bytes on x86_64, 128 on arm64). Both begin with st_dev and st_ino as u64 at
    /// offsets 0 and 8, which is all that is read.
    /// </summary>
    public const int StatBufferSize = 256;
}
