using System.Net.Sockets;
using System.Text;
using UnifiedLlm.Daemon.Systemd.DBus;

namespace UnifiedLlm.Tests.DBus;

/// <summary>
/// The server end of a real unix socket, driven step by step by a test: it authenticates the client properly and
/// then sends exactly what the test scripts — including orderings and garbage a real peer cannot be made to produce.
/// </summary>
internal sealed class ScriptedPeer : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("ullm-dbus-peer-");
    private readonly Socket _listener = new(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
    private uint _lastSerial;

    public ScriptedPeer()
    {
        _listener.Bind(new UnixDomainSocketEndPoint(SocketPath));
        _listener.Listen(1);
    }

    public Socket? Socket { get; private set; }

    private string SocketPath => Path.Combine(_directory.FullName, "peer");

    /// <summary>
    /// Connects a peer-to-peer client and completes the SASL exchange from the server side. BEGIN must come with AUTH,
    /// before the OK (see <see cref="DBusAuthenticator"/>): a client that waits for the OK first hangs here.
    /// </summary>
    public async Task<DBusConnection> ConnectClientAsync(CancellationToken cancellationToken)
    {
        var accept = _listener.AcceptAsync(cancellationToken).AsTask();
        var connect = DBusConnection.ConnectAsync("unix:path=" + SocketPath, DBusConnectionMode.PeerToPeer, cancellationToken);
        Socket = await accept;
        var auth = await ReadLineAsync(cancellationToken);
        Assert.Equal("\0AUTH EXTERNAL " + Convert.ToHexStringLower(Encoding.ASCII.GetBytes(UnixIdentity.EffectiveUserId().ToString())), auth);
        Assert.Equal("BEGIN", await ReadLineAsync(cancellationToken));
        await SendRawAsync("OK 0123456789abcdef0123456789abcdef\r\n"u8.ToArray(), cancellationToken);
        return await connect;
    }

    public async Task<DBusMessage> ReadMessageAsync(CancellationToken cancellationToken)
    {
        var header = new byte[DBusMessageReader.FixedHeaderLength];
        await ReceiveExactlyAsync(header, cancellationToken);
        var message = new byte[DBusMessageReader.GetMessageLength(header)];
        header.CopyTo(message, 0);
        await ReceiveExactlyAsync(message.AsMemory(header.Length), cancellationToken);
        return DBusMessageReader.Read(message);
    }

    public Task SendAsync(DBusMessage message, CancellationToken cancellationToken) =>
        SendRawAsync(DBusMessageWriter.Write(message with { Serial = ++_lastSerial }), cancellationToken);

    public Task ReplyAsync(DBusMessage call, CancellationToken cancellationToken, params IReadOnlyList<DBusValue> body) =>
        SendAsync(new DBusMessage { Type = DBusMessageType.MethodReturn, ReplySerial = call.Serial, Body = body }, cancellationToken);

    public async Task SendRawAsync(byte[] bytes, CancellationToken cancellationToken) =>
        await Socket!.SendAsync(bytes, cancellationToken);

    public void Dispose()
    {
        Socket?.Dispose();
        _listener.Dispose();
        _directory.Delete(recursive: true);
    }

    private async Task<string> ReadLineAsync(CancellationToken cancellationToken)
    {
        var line = new StringBuilder();
        var one = new byte[1];
        while (!line.ToString().EndsWith("\r\n", StringComparison.Ordinal))
        {
            Assert.Equal(1, await Socket!.ReceiveAsync(one, cancellationToken));
            line.Append((char)one[0]);
        }

        return line.ToString()[..^2];
    }

    private async Task ReceiveExactlyAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        while (buffer.Length > 0)
        {
            var received = await Socket!.ReceiveAsync(buffer, cancellationToken);
            Assert.NotEqual(0, received);
            buffer = buffer[received..];
        }
    }
}
