namespace UnifiedLlm.Tests.DBus;

/// <summary>One dbus-daemon shared by the tests of a class.</summary>
public sealed class DBusDaemonFixture : IAsyncLifetime
{
    private DBusDaemonProcess? _daemon;

    public string Address => _daemon?.Address ?? throw new InvalidOperationException("fixture not initialised");

    public async ValueTask InitializeAsync() => _daemon = await DBusDaemonProcess.StartAsync();

    public async ValueTask DisposeAsync()
    {
        if (_daemon is not null)
        {
            await _daemon.DisposeAsync();
        }
    }
}
