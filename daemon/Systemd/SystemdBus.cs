using UnifiedLlm.Daemon.Systemd.DBus;

namespace UnifiedLlm.Daemon.Systemd;

/// <summary>
/// One live connection to systemd, made on first use and made again after it drops (systemd re-executing, the bus
/// restarting). Callers ask for the manager each time instead of keeping one, so they always get a working connection.
/// </summary>
internal sealed class SystemdBus(string address, DBusConnectionMode mode) : IAsyncDisposable
{
    /// <summary>The private socket when it exists (root only, no bus daemon needed), else the system bus.</summary>
    public const string Auto = "auto";

    private readonly SemaphoreSlim gate = new(1, 1);
    private SystemdManager? current;
    private bool disposed;

    public string Address { get; } = address;

    public DBusConnectionMode Mode { get; } = mode;

    /// <summary>Resolves <c>[server] systemd_address</c>: "auto" or a D-Bus address (a bus, or a path ending in /systemd/private).</summary>
    public static SystemdBus For(string configured)
    {
        if (configured == Auto)
        {
            return UnixIdentity.EffectiveUserId() == 0 && File.Exists("/run/systemd/private")
                ? new SystemdBus(DBusAddress.SystemdPrivate, DBusConnectionMode.PeerToPeer)
                : new SystemdBus(DBusAddress.SystemBus, DBusConnectionMode.Bus);
        }

        var peerToPeer = configured.EndsWith("/systemd/private", StringComparison.Ordinal);
        return new SystemdBus(configured, peerToPeer ? DBusConnectionMode.PeerToPeer : DBusConnectionMode.Bus);
    }

    /// <summary>The manager on a live connection, connecting (and subscribing to systemd's signals) when there is none.</summary>
    public async Task<SystemdManager> GetAsync(CancellationToken cancellationToken)
    {
        var manager = Volatile.Read(ref current);
        if (manager is not null && !manager.Connection.Closed.IsCompleted)
        {
            return manager;
        }

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

            return current;
        }
        finally
        {
            gate.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await gate.WaitAsync();
        try
        {
            disposed = true;
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
    }
}
