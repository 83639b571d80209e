using System.Net.Sockets;

namespace UnifiedLlm.Ctl.Mcp;

/// <summary>An HTTP client whose every connection goes to one unix socket (ullmd's OpenAI listener).</summary>
internal static class UnixSocketHttp
{
    public static HttpClient Create(string socketPath, TimeSpan timeout) => new(new SocketsHttpHandler
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
    })
    {
        BaseAddress = new Uri("http://ullmd"),
        Timeout = timeout,
    };
}
