using System.Net.Sockets;

namespace UnifiedLlm.Bench;

/// <summary>An HTTP handler whose every connection goes to one unix socket (ullmd's OpenAI or admin listener).</summary>
internal static class UnixSocketHandler
{
    public static SocketsHttpHandler To(string socketPath) => new()
    {
        ConnectCallback = async (_, cancellationToken) =>
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        },
    };
}
