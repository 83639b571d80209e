using System.Globalization;
using Microsoft.Extensions.Hosting.Systemd;
using UnifiedLlm.Daemon.Config;

namespace UnifiedLlm.Daemon.Hosting;

/// <summary>
/// Tells systemd what ullmd is doing: a one-line STATUS= once started and after every reload, and WATCHDOG=1 every half
/// WatchdogSec when the unit sets one (Microsoft.Extensions.Hosting.Systemd sends READY=1 and STOPPING=1 but no watchdog).
/// </summary>
internal sealed class SystemdStatus(ISystemdNotifier notifier, ConfigHolder config, DaemonInfo daemon, ILogger<SystemdStatus> logger) : BackgroundService
{
    public void Report(string status)
    {
        if (notifier.IsEnabled)
        {
            notifier.Notify(new ServiceState("STATUS=" + status.ReplaceLineEndings(" ")));
        }
    }

    public string Summary()
    {
        var current = config.Current;
        return $"serving {string.Join(", ", daemon.Listeners.Select(l => l.Address))}; {current.Models.Count} model(s), {current.Providers.Count} provider(s) configured";
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        Report(Summary());
        var interval = WatchdogInterval();
        if (interval is null || !notifier.IsEnabled)
        {
            return;
        }

        logger.LogInformation("systemd watchdog enabled: pinging every {Interval}", interval);
        using var timer = new PeriodicTimer(interval.Value);
        try
        {
            do
            {
                notifier.Notify(new ServiceState("WATCHDOG=1"));
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping: systemd stops expecting pings once STOPPING=1 is sent.
        }
    }

    private static TimeSpan? WatchdogInterval()
    {
        var usec = Environment.GetEnvironmentVariable("WATCHDOG_USEC");
        var pid = Environment.GetEnvironmentVariable("WATCHDOG_PID");
        if (pid is { Length: > 0 } && pid != Environment.ProcessId.ToString(CultureInfo.InvariantCulture))
        {
            return null;
        }

        return ulong.TryParse(usec, NumberStyles.None, CultureInfo.InvariantCulture, out var micros) && micros > 0
            ? TimeSpan.FromMicroseconds(micros / 2)
            : null;
    }
}
