using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;
using static UnifiedLlm.Daemon.Logging.JournalNative;

namespace UnifiedLlm.Daemon.Logging;

/// <summary>
/// Sends encoded journal entries to journald's native socket: one non-blocking datagram per entry, or, when an
/// entry is too large for a datagram (EMSGSIZE, ENOBUFS), a sealed memfd holding the same bytes, passed with
/// SCM_RIGHTS in an otherwise empty datagram. The socket is never connected, so a restarted journald is picked up
/// on the next send. Safe to call from several threads at once: each send is a single system call.
/// </summary>
internal sealed unsafe class JournalSocketSender : IDisposable
{
    private const string MemfdName = "ullm-journal-entry";
    private const int AllSeals = FSealShrink | FSealGrow | FSealWrite | FSealSeal;
    private const int SendFlags = MsgNoSignal | MsgDontWait;

    private readonly Socket _socket;
    private readonly byte[] _address;

    /// <exception cref="ArgumentException">The path is empty or longer than a unix socket address holds.</exception>
    /// <exception cref="PlatformNotSupportedException">Not Linux on x86_64 or arm64.</exception>
    public JournalSocketSender(string socketPath)
    {
        EnsureSupportedPlatform();
        _address = SocketAddress(socketPath);
        _socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
    }

    /// <summary>Sends one entry. Never throws for a failed send: the result says what happened.</summary>
    /// <exception cref="ObjectDisposedException">The sender was disposed.</exception>
    public JournalSendResult Send(ReadOnlySpan<byte> entry)
    {
        fixed (byte* data = entry)
        {
            var iov = new IoVector { Base = data, Length = (nuint)entry.Length };
            if (SendWith(&iov, 1, control: null, controlLength: 0) >= 0)
            {
                return JournalSendResult.Sent;
            }
        }

        var errno = Marshal.GetLastPInvokeError();
        return errno switch
        {
            EMSGSIZE or ENOBUFS => SendAsMemfd(entry),
            _ => DatagramFailure("sendmsg", errno),
        };
    }

    public void Dispose() => _socket.Dispose();

    private JournalSendResult SendAsMemfd(ReadOnlySpan<byte> entry)
    {
        var fd = MemfdCreate(MemfdName, MfdCloexec | MfdAllowSealing);
        if (fd < 0)
        {
            return new(JournalSendOutcome.Failed, "memfd_create", Marshal.GetLastPInvokeError());
        }

        using var memfd = new SafeFileHandle(fd, ownsHandle: true);
        if (WriteAll(memfd, entry) is { } writeErrno)
        {
            return new(JournalSendOutcome.Failed, "write to memfd", writeErrno);
        }

        if (Fcntl(memfd, FAddSeals, AllSeals) < 0)
        {
            return new(JournalSendOutcome.Failed, "fcntl(F_ADD_SEALS)", Marshal.GetLastPInvokeError());
        }

        var control = stackalloc ulong[(ControlSpaceForOneFd + 7) / 8];
        var header = (ControlMessageHeader*)control;
        header->Length = (nuint)ControlLengthForOneFd;
        header->Level = SolSocket;
        header->Type = ScmRights;
        *(int*)(header + 1) = fd;
        return SendWith(null, 0, control, ControlSpaceForOneFd) >= 0
            ? JournalSendResult.SentAsMemfd
            : DatagramFailure("sendmsg with memfd", Marshal.GetLastPInvokeError());
    }

    // Returns null when everything was written, else the errno.
    private static int? WriteAll(SafeFileHandle fd, ReadOnlySpan<byte> bytes)
    {
        fixed (byte* start = bytes)
        {
            var done = 0;
            while (done < bytes.Length)
            {
                var written = Write(fd, start + done, (nuint)(bytes.Length - done));
                if (written < 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno == EINTR)
                    {
                        continue;
                    }

                    return errno;
                }

                done += (int)written;
            }
        }

        return null;
    }

    private nint SendWith(IoVector* iov, int iovLength, void* control, int controlLength)
    {
        fixed (byte* address = _address)
        {
            var message = new MessageHeader
            {
                Name = address,
                NameLength = (uint)_address.Length,
                Iov = iov,
                IovLength = (nuint)iovLength,
                Control = control,
                ControlLength = (nuint)controlLength,
            };
            return SendMessage(_socket.SafeHandle, &message, SendFlags);
        }
    }

    private static JournalSendResult DatagramFailure(string call, int errno) => errno switch
    {
        ENOENT or ECONNREFUSED => new(JournalSendOutcome.DroppedNoJournal, call, errno),
        EAGAIN => new(JournalSendOutcome.DroppedBusy, call, errno),
        _ => new(JournalSendOutcome.Failed, call, errno),
    };

    // struct sockaddr_un for a path socket: sun_family, then the NUL-terminated path.
    private static byte[] SocketAddress(string socketPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(socketPath);
        var pathLength = Encoding.UTF8.GetByteCount(socketPath);
        if (pathLength >= SockaddrUnPathSize)
        {
            throw new ArgumentException($"journal socket path '{socketPath}' is {pathLength} bytes; a unix socket path holds at most {SockaddrUnPathSize - 1}", nameof(socketPath));
        }

        var address = new byte[SockaddrUnPathOffset + pathLength + 1];
        MemoryMarshal.Write(address, AfUnix);
        Encoding.UTF8.GetBytes(socketPath, address.AsSpan(SockaddrUnPathOffset));
        return address;
    }
}
