using System.Net.Sockets;
using System.Text;
using UnifiedLlm.Daemon.Systemd.DBus;

namespace UnifiedLlm.Tests.DBus;

/// <summary>
/// A scripted peer on a real unix socket that authenticates correctly and then misbehaves on purpose (garbage,
/// silence, hang-up) — behaviour a real dbus-daemon cannot be made to produce.
/// </summary>
public sealed class HostilePeerTests : IAsyncDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("ullm-dbus-peer-");
    private readonly Socket _listener = new(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);

    public HostilePeerTests()
    {
        _listener.Bind(new UnixDomainSocketEndPoint(SocketPath));
        _listener.Listen(1);
    }

    private string SocketPath => Path.Combine(_directory.FullName, "peer");

    public ValueTask DisposeAsync()
    {
        _listener.Dispose();
        _directory.Delete(recursive: true);
        return ValueTask.CompletedTask;
    }

    [Fact(Timeout = 60_000)]
    public async Task Garbage_after_auth_fails_the_pending_call_with_the_protocol_error()
    {
        var (connection, peer) = await ConnectAsync();
        await using var _ = connection;
        using var __ = peer;
        var call = connection.CallAsync(DBusMessage.MethodCall(null, "/x", "a.b", "C"), TestContext.Current.CancellationToken);
        await ReadOneMessageAsync(peer);
        await peer.SendAsync("l\x02\x00\x01garbage-garbage-garbage"u8.ToArray(), TestContext.Current.CancellationToken);
        var error = await Assert.ThrowsAsync<DBusDisconnectedException>(() => call);
        Assert.IsType<DBusProtocolException>(error.InnerException);
        Assert.NotNull(connection.DisconnectReason);
    }

    [Fact(Timeout = 60_000)]
    public async Task Announced_huge_message_is_refused_before_allocation()
    {
        var (connection, peer) = await ConnectAsync();
        await using var _ = connection;
        using var __ = peer;
        var call = connection.CallAsync(DBusMessage.MethodCall(null, "/x", "a.b", "C"), TestContext.Current.CancellationToken);
        await ReadOneMessageAsync(peer);
        await peer.SendAsync(Hex.Bytes("6c 02 00 01 | 00 00 00 7f | 01 00 00 00 | 00 00 00 00"), TestContext.Current.CancellationToken);
        var error = await Assert.ThrowsAsync<DBusDisconnectedException>(() => call);
        Assert.Contains("exceeds the 134217728-byte limit", error.Message);
    }

    [Fact(Timeout = 60_000)]
    public async Task Unanswered_call_honours_cancellation_and_the_connection_stays_usable()
    {
        var (connection, peer) = await ConnectAsync();
        await using var _ = connection;
        using var __ = peer;
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var call = connection.CallAsync(DBusMessage.MethodCall(null, "/x", "a.b", "Never"), cancel.Token);
        await ReadOneMessageAsync(peer);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call);

        var second = connection.CallAsync(DBusMessage.MethodCall(null, "/x", "a.b", "Answered"), TestContext.Current.CancellationToken);
        var request = await ReadOneMessageAsync(peer);
        var reply = new DBusMessage { Type = DBusMessageType.MethodReturn, Serial = 1, ReplySerial = request.Serial, Body = [new DBusString("ok")] };
        await peer.SendAsync(DBusMessageWriter.Write(reply), TestContext.Current.CancellationToken);
        Assert.Equal("ok", (await second).Argument(0).AsString());
    }

    [Fact(Timeout = 60_000)]
    public async Task Peer_hanging_up_fails_pending_calls_and_completes_Closed()
    {
        var (connection, peer) = await ConnectAsync();
        await using var _ = connection;
        var call = connection.CallAsync(DBusMessage.MethodCall(null, "/x", "a.b", "C"), TestContext.Current.CancellationToken);
        await ReadOneMessageAsync(peer);
        peer.Dispose();
        await Assert.ThrowsAsync<DBusDisconnectedException>(() => call);
        await connection.Closed.WaitAsync(TestContext.Current.CancellationToken);
    }

    private async Task<(DBusConnection Connection, Socket Peer)> ConnectAsync()
    {
        var accept = _listener.AcceptAsync(TestContext.Current.CancellationToken).AsTask();
        var connect = DBusConnection.ConnectAsync("unix:path=" + SocketPath, DBusConnectionMode.PeerToPeer, TestContext.Current.CancellationToken);
        var peer = await accept;
        var auth = await ReadLineAsync(peer);
        Assert.Equal("\0AUTH EXTERNAL " + Convert.ToHexStringLower(Encoding.ASCII.GetBytes(UnixIdentity.EffectiveUserId().ToString())), auth);
        await peer.SendAsync("OK 0123456789abcdef0123456789abcdef\r\n"u8.ToArray(), TestContext.Current.CancellationToken);
        Assert.Equal("BEGIN", await ReadLineAsync(peer));
        return (await connect, peer);
    }

    private static async Task<string> ReadLineAsync(Socket socket)
    {
        var line = new StringBuilder();
        var one = new byte[1];
        while (!line.ToString().EndsWith("\r\n", StringComparison.Ordinal))
        {
            Assert.Equal(1, await socket.ReceiveAsync(one, TestContext.Current.CancellationToken));
            line.Append((char)one[0]);
        }

        return line.ToString()[..^2];
    }

    private static async Task<DBusMessage> ReadOneMessageAsync(Socket socket)
    {
        var header = new byte[DBusMessageReader.FixedHeaderLength];
        await ReceiveExactlyAsync(socket, header);
        var message = new byte[DBusMessageReader.GetMessageLength(header)];
        header.CopyTo(message, 0);
        await ReceiveExactlyAsync(socket, message.AsMemory(header.Length));
        return DBusMessageReader.Read(message);
    }

    private static async Task ReceiveExactlyAsync(Socket socket, Memory<byte> buffer)
    {
        while (buffer.Length > 0)
        {
            var received = await socket.ReceiveAsync(buffer, TestContext.Current.CancellationToken);
            Assert.NotEqual(0, received);
            buffer = buffer[received..];
        }
    }
}
