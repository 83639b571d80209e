using System.Buffers.Binary;
using System.Net.Sockets;

namespace UnifiedLlm.Daemon.Systemd.DBus;

/// <summary>The peer's process and user as the kernel reports them for a unix socket (SO_PEERCRED).</summary>
internal readonly record struct PeerCredentials(int Pid, uint Uid, uint Gid)
{
    private const int SolSocket = 1;
    private const int SoPeerCred = 17;

    public static PeerCredentials Of(Socket socket)
    {
        Span<byte> ucred = stackalloc byte[12];
        var length = socket.GetRawSocketOption(SolSocket, SoPeerCred, ucred);
        if (length != 12)
        {
            throw new SocketException((int)SocketError.ProtocolNotSupported);
        }

        return new PeerCredentials(
            BinaryPrimitives.ReadInt32LittleEndian(ucred),
            BinaryPrimitives.ReadUInt32LittleEndian(ucred[4..]),
            BinaryPrimitives.ReadUInt32LittleEndian(ucred[8..]));
    }
}
