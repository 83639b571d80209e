using Microsoft.Extensions.Logging;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Systemd;
using UnifiedLlm.Daemon.Systemd.DBus;

namespace UnifiedLlm.Daemon.Hosting;

/// <summary>
/// Decides, once at start, which supervisor runs the backends (<c>[server] supervisor</c>): "systemd" needs systemd to
/// answer on its bus, "process" never asks, "auto" takes systemd when it answers within a few seconds and says why not.
/// </summary>
internal static class SupervisorSelection
{
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(5);

    /// <summary>A connected bus for the systemd supervisor, or null for the process supervisor (with the reason in <paramref name="why"/>).</summary>
    /// <exception cref="SupervisorUnavailableException">"systemd" was configured and systemd does not answer.</exception>
    public static async Task<(SystemdBus? Bus, string Why)> ChooseAsync(ServerConfig server, ILogger busLogger, CancellationToken cancellationToken)
    {
        if (server.Supervisor == SupervisorKind.Process)
        {
            return (null, "[server] supervisor = \"process\"");
        }

        var bus = SystemdBus.For(server.SystemdAddress, busLogger);
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(ProbeTimeout);
            await bus.GetAsync(timeout.Token);
            return (bus, $"systemd answers at {bus.Address}");
        }
        catch (Exception e) when (e is DBusException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            await bus.DisposeAsync();
            var failure = e is OperationCanceledException ? $"no answer within {ProbeTimeout.TotalSeconds} s" : e.Message;
            if (server.Supervisor == SupervisorKind.Systemd)
            {
                throw new SupervisorUnavailableException(
                    $"[server] supervisor = \"systemd\", but systemd does not answer at {bus.Address} ({failure}); set systemd_address, or supervisor = \"process\" on hosts without systemd");
            }

            return (null, $"systemd does not answer at {bus.Address} ({failure})");
        }
    }
}

internal sealed class SupervisorUnavailableException(string message) : Exception(message);
