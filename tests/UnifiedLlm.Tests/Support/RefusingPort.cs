using System.Net;
using System.Net.Sockets;

namespace UnifiedLlm.Tests.Support;

/// <summary>
/// A loopback port that refuses connections for as long as this lives: bound but never listening. Holding the
/// binding (rather than binding and closing) keeps the kernel from handing the port to another test's listener,
/// which once turned an expected "connection refused" into that listener's 401.
/// </summary>
public sealed class RefusingPort : IDisposable
{
    private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);

    public RefusingPort()
    {
        _socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        Uri = new Uri($"http://127.0.0.1:{((IPEndPoint)_socket.LocalEndPoint!).Port}/");
    }

    public Uri Uri { get; }

    public void Dispose() => _socket.Dispose();
}
