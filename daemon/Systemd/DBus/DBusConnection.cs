using System.Collections.Concurrent;
using System.Net.Sockets;
using UnifiedLlm.Daemon.Unix;

namespace UnifiedLlm.Daemon.Systemd.DBus;

/// <summary>
/// One authenticated D-Bus connection over a unix socket. A single read loop parses incoming messages, completes
/// pending calls by REPLY_SERIAL and fans signals out to subscriptions; when it ends (peer closed, read error,
/// malformed message, disposal) every pending call fails with <see cref="DBusDisconnectedException"/>.
/// </summary>
internal sealed partial class DBusConnection : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly ConcurrentDictionary<uint, PendingCall> _pending = new();
    private readonly CancellationTokenSource _closing = new();
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _readLoop = Task.CompletedTask;
    private DBusDisconnectedException? _disconnected;
    private int _lastSerial;

    private DBusConnection(Socket socket, NetworkStream stream, DBusConnectionMode mode, string serverGuid, PeerCredentials peer)
    {
        _socket = socket;
        _stream = stream;
        Mode = mode;
        ServerGuid = serverGuid;
        Peer = peer;
    }

    public DBusConnectionMode Mode { get; }

    public string ServerGuid { get; }

    /// <summary>Credentials of the process at the other end of the socket (the bus daemon, or systemd itself on its private socket).</summary>
    public PeerCredentials Peer { get; }

    /// <summary>Our unique name on a bus (from Hello); null on a peer-to-peer connection.</summary>
    public string? UniqueName { get; private set; }

    /// <summary>Completes (never faults) once the connection has ended; <see cref="DisconnectReason"/> then says why.</summary>
    public Task Closed => _closed.Task;

    public DBusDisconnectedException? DisconnectReason => Volatile.Read(ref _disconnected);

    public static Task<DBusConnection> ConnectSystemBusAsync(CancellationToken cancellationToken) =>
        ConnectAsync(DBusAddress.SystemBus, DBusConnectionMode.Bus, cancellationToken);

    public static Task<DBusConnection> ConnectSystemdPrivateAsync(CancellationToken cancellationToken) =>
        ConnectAsync(DBusAddress.SystemdPrivate, DBusConnectionMode.PeerToPeer, cancellationToken);

    /// <summary>Tries each address of <paramref name="address"/> in order; the first that connects and authenticates wins.</summary>
    public static async Task<DBusConnection> ConnectAsync(string address, DBusConnectionMode mode, CancellationToken cancellationToken)
    {
        var failures = new List<string>();
        foreach (var entry in DBusAddress.ParseList(address))
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(entry.ToEndPoint(), cancellationToken);
                var stream = new NetworkStream(socket, ownsSocket: true);
                var guid = await DBusAuthenticator.AuthenticateAsync(stream, UnixIdentity.EffectiveUserId(), cancellationToken);
                if (entry.Guid is not null && !string.Equals(entry.Guid, guid, StringComparison.OrdinalIgnoreCase))
                {
                    throw new DBusConnectException($"server GUID {guid} differs from the address's guid={entry.Guid}");
                }

                var connection = new DBusConnection(socket, stream, mode, guid, PeerCredentials.Read(socket));
                connection._readLoop = Task.Run(connection.ReadLoopAsync, CancellationToken.None);
                if (mode == DBusConnectionMode.Bus)
                {
                    try
                    {
                        await connection.HelloAsync(cancellationToken);
                    }
                    catch
                    {
                        await connection.DisposeAsync();
                        throw;
                    }
                }

                return connection;
            }
            catch (Exception e) when (e is SocketException or IOException or DBusException or NotSupportedException)
            {
                socket.Dispose();
                failures.Add($"{entry}: {ConnectFailure(entry, e)}");
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }

        throw new DBusConnectException($"could not connect to D-Bus at \"{address}\": {string.Join("; ", failures)}");
    }

    /// <summary>
    /// Why one address failed. .NET reports connect()'s ENOENT on a unix socket path as "Cannot assign requested address"
    /// (SocketError.AddressNotAvailable), which points the reader away from the usual cause: no socket at that path.
    /// </summary>
    private static string ConnectFailure(DBusAddress entry, Exception e) =>
        e is SocketException { SocketErrorCode: SocketError.AddressNotAvailable } && entry.Properties.TryGetValue("path", out var path) && !Path.Exists(path)
            ? $"no socket at {path} (no such file)"
            : e.Message;

    /// <summary>Sends a method call and waits for its reply; an ERROR reply throws <see cref="DBusErrorException"/>.</summary>
    public Task<DBusMessage> CallAsync(DBusMessage call, CancellationToken cancellationToken) => CallAsync(call, null, cancellationToken);

    /// <summary>Sends a message that expects no reply (a signal, or a call flagged NO_REPLY_EXPECTED); returns its serial.</summary>
    public async Task<uint> SendAsync(DBusMessage message, CancellationToken cancellationToken)
    {
        ThrowIfDisconnected();
        var serial = NextSerial();
        await WriteAsync(DBusMessageWriter.Write(message with { Serial = serial }), cancellationToken);
        return serial;
    }

    public async ValueTask DisposeAsync()
    {
        Shutdown(new DBusDisconnectedException("the connection was disposed"));
        await _closing.CancelAsync();
        _stream.Dispose();
        await _readLoop;
        _closing.Dispose();
    }

    private async Task<DBusMessage> CallAsync(DBusMessage call, Action<DBusMessage>? onReplyInReadLoop, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var serial = NextSerial();
        var bytes = DBusMessageWriter.Write(call with { Serial = serial, Flags = call.Flags & ~DBusMessageFlags.NoReplyExpected });
        var pending = new PendingCall(onReplyInReadLoop);
        _pending[serial] = pending;
        if (DisconnectReason is not null)
        {
            _pending.TryRemove(serial, out _);
            ThrowIfDisconnected();
        }

        await using var registration = cancellationToken.Register(() =>
        {
            if (_pending.TryRemove(serial, out var cancelled))
            {
                cancelled.Completion.TrySetCanceled(cancellationToken);
            }
        });
        try
        {
            await WriteAsync(bytes, cancellationToken);
        }
        catch
        {
            _pending.TryRemove(serial, out _);
            throw;
        }

        var reply = await pending.Completion.Task;
        return reply.Type == DBusMessageType.Error ? throw DBusErrorException.FromReply(reply) : reply;
    }

    private async Task WriteAsync(byte[] message, CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken);
        try
        {
            // Only closing may abort a started write: a half-written message would corrupt the stream for everyone.
            await _stream.WriteAsync(message, _closing.Token);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException)
        {
            throw new DBusDisconnectedException($"could not send: {DisconnectReason?.Message ?? e.Message}", e);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private uint NextSerial()
    {
        while (true)
        {
            var serial = (uint)Interlocked.Increment(ref _lastSerial);
            if (serial != 0)
            {
                return serial;
            }
        }
    }

    private void ThrowIfDisconnected()
    {
        if (DisconnectReason is { } reason)
        {
            throw new DBusDisconnectedException(reason.Message, reason.InnerException);
        }
    }

    private void Shutdown(DBusDisconnectedException reason)
    {
        Interlocked.CompareExchange(ref _disconnected, reason, null);
        var actual = _disconnected!;
        foreach (var serial in _pending.Keys)
        {
            if (_pending.TryRemove(serial, out var pending))
            {
                pending.Completion.TrySetException(new DBusDisconnectedException(actual.Message, actual.InnerException));
            }
        }

        CompleteSubscriptions(actual);
        _closed.TrySetResult();
    }
}
