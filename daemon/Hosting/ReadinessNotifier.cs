using Microsoft.Extensions.Hosting.Systemd;

namespace UnifiedLlm.Daemon.Hosting;

/// <summary>
/// Sends READY=1 once every listener is bound and its permissions set, and STOPPING=1 on shutdown, whenever a
/// NOTIFY_SOCKET is given but systemd's own host lifetime is not in charge (ullmd started by hand, by a test, or under
/// another supervisor that speaks sd_notify). Under systemd, SystemdLifetime sends both.
/// </summary>
internal sealed class ReadinessNotifier(ISystemdNotifier notifier, IHostLifetime lifetime) : IHostedLifecycleService
{
    private bool ShouldNotify => notifier.IsEnabled && lifetime is not SystemdLifetime;

    public Task StartedAsync(CancellationToken cancellationToken)
    {
        if (ShouldNotify)
        {
            notifier.Notify(ServiceState.Ready);
        }

        return Task.CompletedTask;
    }

    public Task StoppingAsync(CancellationToken cancellationToken)
    {
        if (ShouldNotify)
        {
            notifier.Notify(ServiceState.Stopping);
        }

        return Task.CompletedTask;
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
