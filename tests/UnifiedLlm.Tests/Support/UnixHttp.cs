using System.Net.Sockets;

namespace UnifiedLlm.Tests.Support;

/// <summary>An HTTP client whose every connection goes to one unix socket (ullmd's OpenAI-compatible listener).</summary>
public static class UnixHttp
{
    public static HttpClient To(string socket) => new(new SocketsHttpHandler
    {
        ConnectCallback = async (_, ct) =>
        {
            var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            await s.ConnectAsync(new UnixDomainSocketEndPoint(socket), ct);
            return new NetworkStream(s, ownsSocket: true);
        },
    })
    { BaseAddress = new Uri("http://localhost/") };
}
