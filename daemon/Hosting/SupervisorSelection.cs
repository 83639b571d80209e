using Microsoft.Extensions.Logging;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Systemd;
using UnifiedLlm.Daemon.Systemd.DBus;

namespace UnifiedLlm.Daemon.Hosting;

/// <summary>
/// Decides, once at start, which supervisor runs the backends (<c>[server] supervisor</c>): "process" never asks systemd;
/// "systemd", and "auto" on a host booted with systemd, wait for systemd to answer on its bus (<see cref="SystemdWait"/>)
/// and stop the start if it never does; "auto" elsewhere asks once and takes plain processes when systemd does not
/// answer, saying why.
/// </summary>
internal static class SupervisorSelection
{
    /// <summary>sd_booted(3)'s test: systemd is this host's init.</summary>
    public static bool HostBootedWithSystemd => Directory.Exists("/run/systemd/system");

    /// <summary>Whether backends must run under systemd: "systemd", or "auto" on a host booted with systemd.</summary>
    public static bool NeedsSystemd(SupervisorKind supervisor, bool hostBootedWithSystemd) =>
        supervisor == SupervisorKind.Systemd || (supervisor == SupervisorKind.Auto && hostBootedWithSystemd);

    /// <summary>A connected bus for the systemd supervisor, or null for the process supervisor (with the reason in <c>Why</c>).</summary>
    /// <param name="reportWaiting">Told each time systemd has not answered and ullmd asks again (for sd_notify's STATUS=).</param>
    /// <exception cref="SupervisorUnavailableException">systemd is needed and did not answer within the wait.</exception>
    public static async Task<(SystemdBus? Bus, string Why)> ChooseAsync(
        ServerConfig server, bool hostBootedWithSystemd, SystemdWait wait, ILogger busLogger, Action<string> reportWaiting, CancellationToken cancellationToken)
    {
        if (server.Supervisor == SupervisorKind.Process)
        {
            return (null, "[server] supervisor = \"process\"");
        }

        var needsSystemd = NeedsSystemd(server.Supervisor, hostBootedWithSystemd);
        var started = TimeProvider.System.GetTimestamp();
        for (var attempt = 1; ; attempt++)
        {
            var bus = SystemdBus.For(server.SystemdAddress, busLogger);
            var failure = await ProbeAsync(bus, wait.AttemptTimeout, cancellationToken);
            if (failure is null)
            {
                var after = attempt == 1 ? "" : $" (after {attempt} attempts in {TimeProvider.System.GetElapsedTime(started).TotalSeconds:0.#} s)";
                return (bus, $"systemd answers at {bus.Address}{after}");
            }

            await bus.DisposeAsync();
            if (!needsSystemd)
            {
                return (null, $"systemd does not answer at {bus.Address} ({failure})");
            }

            var elapsed = TimeProvider.System.GetElapsedTime(started);
            if (wait.NextDelay(attempt, elapsed) is not { } delay)
            {
                throw new SupervisorUnavailableException(Unavailable(server.Supervisor, bus.Address, elapsed, attempt, failure));
            }

            var waiting = $"systemd does not answer at {bus.Address} ({failure}); asking again in {delay.TotalSeconds:0.#} s (attempt {attempt})";
            busLogger.LogWarning("{Waiting}", waiting);
            reportWaiting(waiting);
            await Task.Delay(delay, cancellationToken);
        }
    }

    /// <summary>Null when systemd answered, else why not.</summary>
    private static async Task<string?> ProbeAsync(SystemdBus bus, TimeSpan timeout, CancellationToken cancellationToken)
    {
        try
        {
            using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            attempt.CancelAfter(timeout);
            await bus.GetAsync(attempt.Token);
            return null;
        }
        catch (Exception e) when (e is DBusException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return e is OperationCanceledException ? $"no answer within {timeout.TotalSeconds:0.#} s" : e.Message;
        }
    }

    private static string Unavailable(SupervisorKind supervisor, string address, TimeSpan elapsed, int attempts, string failure)
    {
        var tried = attempts == 1
            ? $"systemd does not answer at {address} ({failure})"
            : $"systemd does not answer at {address} ({failure}; {attempts} attempts in {elapsed.TotalSeconds:0} s)";
        return supervisor == SupervisorKind.Systemd
            ? $"[server] supervisor = \"systemd\", but {tried}; set systemd_address, or supervisor = \"process\" on hosts without systemd"
            : $"[server] supervisor = \"auto\" on a host booted with systemd, but {tried}. Backends are not started as plain processes here: "
                + "they would run without their units' sandbox, memory limit and device policy. Set systemd_address, or supervisor = \"process\" to run them as plain processes anyway";
    }
}

/// <summary>
/// How long a start that needs systemd waits for it to answer: each attempt up to <see cref="AttemptTimeout"/>, then
/// again after 1, 2, 4, then every 8 seconds, while the next attempt would end within <see cref="Limit"/>. The default
/// limit stays under systemd's default start timeout (90 s), so the unit fails with ullmd's reason rather than
/// systemd's timeout, and <c>Restart=on-failure</c> tries again.
/// </summary>
internal sealed record SystemdWait(TimeSpan AttemptTimeout, TimeSpan Limit)
{
    public static readonly SystemdWait Default = new(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(60));

    /// <summary>One attempt, no wait: for <c>ullmd --doctor</c>, which reports rather than starts.</summary>
    public static readonly SystemdWait SingleAttempt = new(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(5));

    private static readonly TimeSpan LongestPause = TimeSpan.FromSeconds(8);

    /// <summary>The pause before attempt <paramref name="attempt"/> + 1, or null when that attempt could end past the limit.</summary>
    public TimeSpan? NextDelay(int attempt, TimeSpan elapsed)
    {
        var pause = TimeSpan.FromSeconds(Math.Pow(2, Math.Min(attempt - 1, 3)));
        pause = pause < LongestPause ? pause : LongestPause;
        return elapsed + pause + AttemptTimeout <= Limit ? pause : null;
    }
}

internal sealed class SupervisorUnavailableException(string message) : Exception(message);
