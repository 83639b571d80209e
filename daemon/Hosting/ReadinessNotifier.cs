using Microsoft.Extensions.Hosting.Systemd;

namespace UnifiedLlm.Daemon.Hosting;

/// <summary>
/// Sends READY=1 once every listener is bound and its permissions set, and STOPPING=1 on shutdown, whenever a
/// NOTIFY_SOCKET is given but systemd's own host lifetime is not in charge (ullmd started by hand, by a test, or under
/// another supervisor that speaks sd_notify). Under systemd, SystemdLifetime sends both. Either way it logs where the
/// start went (<see cref="StartupTimeline"/>).
/// </summary>
internal sealed partial class ReadinessNotifier(ISystemdNotifier notifier, IHostLifetime lifetime, StartupTimeline timeline, ILogger<ReadinessNotifier> logger) : IHostedLifecycleService
{
    private bool ShouldNotify => notifier.IsEnabled && lifetime is not SystemdLifetime;

    public Task StartedAsync(CancellationToken cancellationToken)
    {
        timeline.Mark("services and listeners");
        LogReady(timeline.Elapsed.TotalMilliseconds, timeline.CpuTime.TotalMilliseconds, timeline.Describe());
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

    [LoggerMessage(Level = LogLevel.Information, Message = "Ready {ElapsedMs:F0} ms after exec, {CpuMs:F0} ms of CPU: {Phases:l}")]
    private partial void LogReady(double elapsedMs, double cpuMs, string phases);
}
