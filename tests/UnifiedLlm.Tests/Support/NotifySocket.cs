using System.Net.Sockets;
using System.Text;

namespace UnifiedLlm.Tests.Support;

/// <summary>A real sd_notify socket: a unix datagram socket the test binds and points NOTIFY_SOCKET at.</summary>
public sealed class NotifySocket : IAsyncDisposable
{
    private readonly Socket socket;
    private readonly CancellationTokenSource stop = new();
    private readonly Task pump;
    private readonly List<string> received = [];

    public NotifySocket(string path)
    {
        Path = path;
        socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        socket.Bind(new UnixDomainSocketEndPoint(path));
        pump = PumpAsync();
    }

    public string Path { get; }

    public IReadOnlyList<string> Received
    {
        get
        {
            lock (received)
            {
                return [.. received];
            }
        }
    }

    /// <summary>
    /// The first datagram, received so far or later, containing the given line (e.g. "READY=1"), or with a "KEY=" line
    /// starting with it; the history is kept, so the order in which a test waits does not matter.
    /// </summary>
    public async Task<string> WaitForAsync(string line, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var match = Received.FirstOrDefault(m => Matches(m, line));
            if (match is not null)
            {
                return match;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"no '{line}' on {Path} within {timeout}; received: {string.Join(" | ", Received)}");
            }

            await Task.Delay(20);
        }
    }

    private static bool Matches(string message, string line) =>
        message.Split('\n').Any(l => l == line || (line.EndsWith('=') && l.StartsWith(line, StringComparison.Ordinal)));

    public async ValueTask DisposeAsync()
    {
        await stop.CancelAsync();
        socket.Dispose();
        try
        {
            await pump;
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
        {
        }

        stop.Dispose();
    }

    private async Task PumpAsync()
    {
        var buffer = new byte[65536];
        while (!stop.IsCancellationRequested)
        {
            var n = await socket.ReceiveAsync(buffer, SocketFlags.None, stop.Token);
            var text = Encoding.UTF8.GetString(buffer, 0, n);
            lock (received)
            {
                received.Add(text);
            }
        }
    }
}
