using System.Net;
using System.Net.Sockets;

namespace UnifiedLlm.Daemon.Backends;

/// <summary>
/// Loopback ports for backends. A port is handed out only after a bind test on 127.0.0.1 succeeds and only while no
/// other backend of ours holds it, so two backends starting at once never race for the same port.
/// </summary>
internal sealed class PortAllocator
{
    private const int MaxAttempts = 64;
    private readonly HashSet<int> inUse = [];
    private readonly Lock gate = new();

    public int Allocate()
    {
        for (var attempt = 0; attempt < MaxAttempts; attempt++)
        {
            var port = BindTest();
            lock (gate)
            {
                if (inUse.Add(port))
                {
                    return port;
                }
            }
        }

        throw new InvalidOperationException($"no free loopback port after {MaxAttempts} attempts");
    }

    /// <summary>
    /// Claims <paramref name="port"/>, on which a backend of ours already listens (one adopted after a restart of ullmd);
    /// false when another backend of ours holds it.
    /// </summary>
    public bool Reserve(int port)
    {
        lock (gate)
        {
            return inUse.Add(port);
        }
    }

    public void Release(int port)
    {
        lock (gate)
        {
            inUse.Remove(port);
        }
    }

    public bool IsAllocated(int port)
    {
        lock (gate)
        {
            return inUse.Contains(port);
        }
    }

    private static int BindTest()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }
}
