using System.Buffers.Binary;
using System.Net.Sockets;

namespace UnifiedLlm.Daemon.Unix;

/// <summary>
/// Who is on the other end of a unix socket, as the kernel says (SO_PEERCRED): the admin API's authorization, and the
/// D-Bus client's check of who answers on systemd's sockets.
/// </summary>
internal sealed record PeerCredentials(int Pid, uint Uid, uint Gid)
{
    private const int SolSocket = 1;
    private const int SoPeerCred = 17;

    public static PeerCredentials Read(Socket socket)
    {
        Span<byte> ucred = stackalloc byte[12];
        var length = socket.GetRawSocketOption(SolSocket, SoPeerCred, ucred);
        if (length != 12)
        {
            throw new SocketException((int)SocketError.InvalidArgument);
        }

        return new PeerCredentials(
            BinaryPrimitives.ReadInt32LittleEndian(ucred),
            BinaryPrimitives.ReadUInt32LittleEndian(ucred[4..]),
            BinaryPrimitives.ReadUInt32LittleEndian(ucred[8..]));
    }

    /// <summary>Root, or the group is the peer's primary or one of its supplementary groups (read from /proc now).</summary>
    public bool IsRootOrMemberOf(uint? groupId) =>
        Uid == 0 || (groupId is { } g && (Gid == g || SupplementaryGroups(Pid).Contains(g)));

    /// <summary>The peer's supplementary groups from /proc; empty when the process is gone or in another PID namespace.</summary>
    private static IReadOnlyList<uint> SupplementaryGroups(int pid)
    {
        if (pid <= 0)
        {
            return [];
        }

        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith("Groups:", StringComparison.Ordinal))
                {
                    return line["Groups:".Length..]
                        .Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries)
                        .Select(uint.Parse)
                        .ToList();
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return [];
        }

        return [];
    }
}
