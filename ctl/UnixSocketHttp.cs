using System.Net.Sockets;

namespace UnifiedLlm.Ctl;

/// <summary>HTTP whose every connection goes to one unix socket: ullmd's admin socket (gRPC) or its OpenAI listener.</summary>
internal static class UnixSocketHttp
{
    public static SocketsHttpHandler Handler(string socketPath) => new()
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

    public static HttpClient Create(string socketPath, TimeSpan timeout) => new(Handler(socketPath))
    {
        BaseAddress = new Uri("http://ullmd"),
        Timeout = timeout,
    };
}
