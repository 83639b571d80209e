using System.Net;
using System.Net.Sockets;

namespace UnifiedLlm.Daemon.Backends;

/// <summary>A TCP port on 127.0.0.1 that is free right now: the kernel picks it for a listener that is closed at once.</summary>
internal static class LoopbackPort
{
    public static int Allocate()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
