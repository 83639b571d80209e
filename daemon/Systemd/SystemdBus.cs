using Microsoft.Extensions.Logging;
using UnifiedLlm.Daemon.Systemd.DBus;

namespace UnifiedLlm.Daemon.Systemd;

/// <summary>
/// One live connection to systemd, made on first use and made again after it drops (systemd re-executing, the bus
/// restarting). Callers ask for the manager each time instead of keeping one, so they always get a working connection.
/// A dropped connection is noticed at once and logged once; it is then made again in the background with backoff
/// (<see cref="Backoff"/>), and callers that ask meanwhile wait for it (as long as their token lets them) instead of
/// each retrying on their own.
/// </summary>
internal sealed partial class SystemdBus(string address, DBusConnectionMode mode, ILogger logger, TimeProvider? clock = null) : IAsyncDisposable
{
    /// <summary>The private socket when it exists (root only, no bus daemon needed), else the system bus.</summary>
    public const string Auto = "auto";

    private static readonly TimeSpan FirstRetry = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan LastRetry = TimeSpan.FromSeconds(10);

    private readonly TimeProvider time = clock ?? TimeProvider.System;
    private readonly SemaphoreSlim gate = new(1, 1);
    private readonly CancellationTokenSource closing = new();
    private SystemdManager? current;
    private TaskCompletionSource<SystemdManager>? reconnected;
    private Task watching = Task.CompletedTask;
    private bool disposed;

    public string Address { get; } = address;

    public DBusConnectionMode Mode { get; } = mode;

    /// <summary>Resolves <c>[server] systemd_address</c>: "auto" or a D-Bus address (a bus, or a path ending in /systemd/private).</summary>
    public static SystemdBus For(string configured, ILogger logger)
    {
        if (configured == Auto)
        {
            return UnixIdentity.EffectiveUserId() == 0 && File.Exists("/run/systemd/private")
                ? new SystemdBus(DBusAddress.SystemdPrivate, DBusConnectionMode.PeerToPeer, logger)
                : new SystemdBus(DBusAddress.SystemBus, DBusConnectionMode.Bus, logger);
        }

        var peerToPeer = configured.EndsWith("/systemd/private", StringComparison.Ordinal);
        return new SystemdBus(configured, peerToPeer ? DBusConnectionMode.PeerToPeer : DBusConnectionMode.Bus, logger);
    }

    /// <summary>The wait before reconnect attempt <paramref name="attempt"/> (1, 2, …): 0.25 s, doubling, at most 10 s.</summary>
    public static TimeSpan Backoff(int attempt) =>
        TimeSpan.FromTicks(Math.Min(LastRetry.Ticks, FirstRetry.Ticks << Math.Clamp(attempt - 1, 0, 16)));

    /// <summary>
    /// The manager on a live connection: connecting (and subscribing to systemd's signals) when there has been none yet,
    /// or waiting for the reconnection under way after one dropped.
    /// </summary>
    public async Task<SystemdManager> GetAsync(CancellationToken cancellationToken)
    {
        var manager = Volatile.Read(ref current);
        if (manager is not null && !manager.Connection.Closed.IsCompleted)
        {
            return manager;
        }

        if (Volatile.Read(ref reconnected) is { } pending)
        {
            return await pending.Task.WaitAsync(cancellationToken);
        }

        return await ConnectAsync(cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        await gate.WaitAsync();
        try
        {
            disposed = true;
            await closing.CancelAsync();
            Volatile.Read(ref reconnected)?.TrySetException(new ObjectDisposedException(nameof(SystemdBus)));
            if (current is { } manager)
            {
                await manager.Connection.DisposeAsync();
                current = null;
            }
        }
        finally
        {
            gate.Release();
        }

        await watching;
        closing.Dispose();
    }

    private async Task<SystemdManager> ConnectAsync(CancellationToken cancellationToken)
    {
        await gate.WaitAsync(cancellationToken);
        try
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            if (current is { } live && !live.Connection.Closed.IsCompleted)
            {
                return live;
            }

            if (current is { } dead)
            {
                await dead.Connection.DisposeAsync();
                current = null;
            }

            var connection = await DBusConnection.ConnectAsync(Address, Mode, cancellationToken);
            try
            {
                current = await SystemdManager.CreateAsync(connection, cancellationToken);
            }
            catch
            {
                await connection.DisposeAsync();
                throw;
            }

            watching = WatchAsync(current);
            return current;
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>Waits for the connection to drop, logs it once, and makes it again with backoff.</summary>
    private async Task WatchAsync(SystemdManager manager)
    {
        await manager.Connection.Closed;
        if (closing.IsCancellationRequested)
        {
            return;
        }

        var pending = new TaskCompletionSource<SystemdManager>(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref reconnected, pending);
        var lostAt = time.GetTimestamp();
        LogLost(Address, manager.Connection.DisconnectReason?.Message ?? "closed");
        var reason = "";
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await Task.Delay(Backoff(attempt), time, closing.Token);
                var next = await ConnectAsync(closing.Token);
                Volatile.Write(ref reconnected, null);
                LogBack(Address, attempt, time.GetElapsedTime(lostAt).TotalSeconds);
                pending.TrySetResult(next);
                return;
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException && closing.IsCancellationRequested)
            {
                pending.TrySetException(new ObjectDisposedException(nameof(SystemdBus)));
                return;
            }
            catch (Exception e) when (e is DBusException or OperationCanceledException or IOException or System.Net.Sockets.SocketException)
            {
                if (e.Message != reason)
                {
                    // Each new reason once, not each attempt: a bus that stays away for minutes does not flood the log.
                    reason = e.Message;
                    LogStillAway(Address, attempt, e.Message);
                }
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "ullmd lost its D-Bus connection to systemd at {Address} ({Reason}); backends run on, reconnecting with backoff")]
    private partial void LogLost(string address, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "D-Bus connection to systemd is back at {Address} after {Attempts} attempt(s), {Seconds:F1} s")]
    private partial void LogBack(string address, int attempts, double seconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "systemd at {Address} does not answer yet (attempt {Attempt}: {Reason}); still trying")]
    private partial void LogStillAway(string address, int attempt, string reason);
}
