using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using UnifiedLlm.Daemon.Logging;
using static UnifiedLlm.Daemon.Logging.JournalNative;

namespace UnifiedLlm.Tests.Logging;

/// <summary>
/// A real AF_UNIX datagram socket bound in a fresh temp directory, standing where journald's socket would be.
/// Receives with recvmsg so that a file descriptor passed with SCM_RIGHTS (the memfd path) is picked up too.
/// </summary>
internal sealed unsafe partial class UnixDatagramReceiver : IDisposable
{
    private const int MsgTrunc = 0x20;
    private const int MsgCtrunc = 0x8;
    private static readonly TimeSpan ReceiveTimeout = TimeSpan.FromSeconds(30);

    private readonly string _directory;
    private readonly Socket _socket;
    private readonly byte[] _buffer = new byte[1024 * 1024];

    public UnixDatagramReceiver()
    {
        _directory = Directory.CreateTempSubdirectory("ullm-journald-").FullName;
        SocketPath = Path.Combine(_directory, "socket");
        _socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        _socket.Bind(new UnixDomainSocketEndPoint(SocketPath));
    }

    public string SocketPath { get; }

    /// <summary>The temp directory holding the socket, removed on Dispose.</summary>
    public string TempDirectory => _directory;

    /// <summary>Waits (up to 30 s) for the next datagram.</summary>
    public ReceivedDatagram Receive()
    {
        if (!_socket.Poll(ReceiveTimeout, SelectMode.SelectRead))
        {
            throw new TimeoutException($"no datagram arrived at {SocketPath} within {ReceiveTimeout}");
        }

        var control = stackalloc ulong[8];
        fixed (byte* data = _buffer)
        {
            var iov = new IoVector { Base = data, Length = (nuint)_buffer.Length };
            var message = new MessageHeader { Iov = &iov, IovLength = 1, Control = control, ControlLength = 8 * sizeof(ulong) };
            var received = ReceiveMessage(_socket.SafeHandle, &message, MsgDontWait);
            if (received < 0)
            {
                throw new IOException($"recvmsg on {SocketPath}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
            }

            if ((message.Flags & (MsgTrunc | MsgCtrunc)) != 0)
            {
                throw new IOException($"datagram at {SocketPath} was truncated (flags 0x{message.Flags:x})");
            }

            var payload = _buffer.AsSpan(0, (int)received).ToArray();
            if (message.ControlLength == 0)
            {
                return new ReceivedDatagram(payload, null, 0);
            }

            var header = (ControlMessageHeader*)control;
            Assert.Equal(SolSocket, header->Level);
            Assert.Equal(ScmRights, header->Type);
            Assert.Equal((nuint)ControlLengthForOneFd, header->Length);
            using var fd = new SafeFileHandle(*(int*)(header + 1), ownsHandle: true);
            var seals = Fcntl(fd, FGetSeals, 0);
            var content = new byte[RandomAccess.GetLength(fd)];
            Assert.Equal(content.Length, RandomAccess.Read(fd, content, 0));
            return new ReceivedDatagram(payload, content, seals);
        }
    }

    /// <summary>True when a datagram is waiting right now.</summary>
    public bool HasPending => _socket.Poll(0, SelectMode.SelectRead);

    public void Dispose()
    {
        _socket.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    [LibraryImport("libc", EntryPoint = "recvmsg", SetLastError = true)]
    private static partial nint ReceiveMessage(SafeHandle socket, MessageHeader* message, int flags);
}

/// <summary>
/// One received datagram; for the memfd path, <see cref="MemfdContent"/> holds the passed file's bytes and
/// <see cref="MemfdSeals"/> its F_GET_SEALS value.
/// </summary>
internal sealed record ReceivedDatagram(byte[] Payload, byte[]? MemfdContent, int MemfdSeals)
{
    public JournalEntry Entry => JournalEntryDecoder.Decode(MemfdContent ?? Payload);
}
