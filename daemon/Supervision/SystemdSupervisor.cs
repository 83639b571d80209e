using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Gpu;
using UnifiedLlm.Daemon.Systemd;
using UnifiedLlm.Daemon.Systemd.DBus;

namespace UnifiedLlm.Daemon.Supervision;

/// <summary>
/// Runs every backend as a transient systemd unit in ullm.slice (<see cref="BackendUnitSpec"/>), started over D-Bus.
/// Each unit's end arrives as PropertiesChanged signals, watched from before the unit starts; a dropped connection is
/// made again and the unit's state read back, so no exit is missed or invented. Units outlive ullmd: disposing this
/// supervisor leaves them running for the next ullmd to find with <see cref="ListRunningAsync"/>. Units carry their
/// <see cref="BackendOwner"/>'s mark, and only the owner's units are listed or reset: another ullmd on the same systemd
/// keeps its own.
/// </summary>
internal sealed partial class SystemdSupervisor(
    SystemdBus bus, JournalReader journal, Func<IReadOnlyList<GpuDevice>> gpus, TimeProvider time, BackendOwner owner, ILogger<SystemdSupervisor> logger)
    : IBackendSupervisor
{
    private const int SignalCapacity = 256;
    private static readonly TimeSpan ReconnectDelay = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan EndNoticeLimit = TimeSpan.FromSeconds(30);

    private readonly ConcurrentDictionary<string, TrackedUnit> units = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource closing = new();
    private int disposed;

    public string Kind => EnumNames.Supervisors.NameOf(SupervisorKind.Systemd);

    /// <summary>The control groups of the units running now, to tell our GPU processes from foreign ones.</summary>
    public IReadOnlyCollection<UnitControlGroup> ControlGroups() =>
        [.. units.Values.Where(u => !u.Exited.IsCompleted).Select(u => new UnitControlGroup(u.UnitName, u.ControlGroup))];

    public async Task<BackendProcess> StartAsync(BackendLaunch launch, CancellationToken cancellationToken)
    {
        var spec = BackendUnitSpec.From(launch, gpus(), Environment.GetEnvironmentVariable("PATH"), owner.Id);
        var systemd = await bus.GetAsync(cancellationToken);
        var watch = await systemd.WatchUnitAsync(launch.UnitName, SignalCapacity, cancellationToken);
        var final = new FinalState();
        try
        {
            await systemd.StartTransientUnitAsync(launch.UnitName, spec, cancellationToken);
        }
        catch (Exception e) when (e is SystemdJobFailedException or DBusErrorException)
        {
            // A failed unit stays loaded (CollectMode=inactive) with its result until it is reset.
            final.ApplyBuffered(watch);
            await watch.DisposeAsync();
            var reason = final.Ended ? final.ToExit(launch.StopTimeout, launch.MemoryMaxBytes).Reason : e.Message;
            if (e is SystemdJobFailedException)
            {
                await ResetFailedAsync(launch.UnitName);
            }

            throw new InvalidOperationException($"systemd could not start {launch.UnitName}: {reason}", e);
        }
        catch
        {
            await watch.DisposeAsync();
            throw;
        }

        LogStarted(launch.UnitName, spec.ExecPath);
        var status = await systemd.GetUnitAsync(launch.UnitName, cancellationToken) is null
            ? null
            : await systemd.GetUnitStatusAsync(launch.UnitName, cancellationToken);
        var unit = Track(launch.UnitName, launch.Model, status, launch.StopTimeout, launch.MemoryMaxBytes, watch, final);
        return unit.ToProcess();
    }

    public async Task<BackendExit> StopAsync(string unitName, CancellationToken cancellationToken)
    {
        var unit = units.TryGetValue(unitName, out var known) ? known
            : await TrackExistingAsync(unitName, model: null, cancellationToken) ?? throw new BackendNotFoundException(unitName);
        if (!unit.Exited.IsCompleted)
        {
            var systemd = await bus.GetAsync(cancellationToken);
            try
            {
                await systemd.StopUnitAsync(unitName, cancellationToken);
            }
            catch (DBusErrorException e) when (e.ErrorName == "org.freedesktop.systemd1.NoSuchUnit")
            {
                // It ended and was collected between our look and the stop: its watch reports how.
            }
        }

        try
        {
            // The stop job has ended (or the unit had), so its end is already on the way; a missing one is a bug, not a wait.
            return await unit.Exited.WaitAsync(unit.StopTimeout + EndNoticeLimit, time, cancellationToken);
        }
        catch (TimeoutException)
        {
            throw new InvalidOperationException($"systemd stopped {unitName}, but its end was not seen within {EndNoticeLimit.TotalSeconds} s of the stop timeout");
        }
    }

    public async Task<IReadOnlyList<BackendProcess>> ListRunningAsync(CancellationToken cancellationToken)
    {
        var systemd = await bus.GetAsync(cancellationToken);
        foreach (var failed in await systemd.ListUnitsByPatternsAsync(["failed"], [UnitName.Pattern], cancellationToken))
        {
            if (!units.ContainsKey(failed.Name) && await OwnsAsync(failed.Name, await MarkAsync(systemd, failed.Name, cancellationToken), cancellationToken))
            {
                LogFailedWhileUnwatched(failed.Name);
                await ResetFailedAsync(failed.Name);
            }
        }

        var running = new List<BackendProcess>();
        foreach (var found in await BackendUnitDiscovery.FindAsync(systemd, cancellationToken))
        {
            if (!await OwnsAsync(found.UnitName, found.Owner, cancellationToken))
            {
                continue;
            }

            var unit = units.TryGetValue(found.UnitName, out var known) && known.InvocationId == found.Status.InvocationId
                ? known
                : await TrackExistingAsync(found.UnitName, found.Model, cancellationToken);
            if (unit is not null && !unit.Exited.IsCompleted)
            {
                running.Add(unit.ToProcess());
            }
        }

        return [.. running.OrderBy(p => p.UnitName, StringComparer.Ordinal)];
    }

    public async IAsyncEnumerable<BackendLogLine> ReadLogsAsync(
        string unitName, int lines, bool follow, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var line in journal.ReadAsync(unitName, lines, follow, time.GetUtcNow(), cancellationToken))
        {
            yield return line;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) == 1)
        {
            return;
        }

        await closing.CancelAsync();
        await Task.WhenAll(units.Values.Select(u => u.Monitor));
        await bus.DisposeAsync();
        closing.Dispose();
    }

    /// <summary>Whether the unit is ours (<see cref="BackendOwner"/>); logs why one that is not is left alone.</summary>
    private async Task<bool> OwnsAsync(string unitName, string? mark, CancellationToken cancellationToken)
    {
        if (await owner.OwnsAsync(unitName, mark, cancellationToken))
        {
            return true;
        }

        if (mark is null)
        {
            LogUnmarkedLeftAlone(unitName);
        }
        else
        {
            LogOthersLeftAlone(unitName, mark, owner.Id);
        }

        return false;
    }

    /// <summary>The unit's owner mark; null when it has none or is gone.</summary>
    private static async Task<string?> MarkAsync(SystemdManager systemd, string unitName, CancellationToken cancellationToken)
    {
        try
        {
            return (await systemd.GetLogExtraFieldsAsync(unitName, cancellationToken)).GetValueOrDefault(BackendOwner.Field);
        }
        catch (DBusErrorException)
        {
            return null;
        }
    }

    private async Task ResetFailedAsync(string unitName)
    {
        try
        {
            var systemd = await bus.GetAsync(closing.Token);
            await systemd.ResetFailedUnitAsync(unitName, closing.Token);
        }
        catch (Exception e) when (e is DBusException or OperationCanceledException)
        {
            LogResetFailed(unitName, e.Message);
        }
    }

    /// <summary>Starts watching a unit someone else started (an earlier ullmd); null when systemd has no such unit running.</summary>
    private async Task<TrackedUnit?> TrackExistingAsync(string unitName, string? model, CancellationToken cancellationToken)
    {
        var systemd = await bus.GetAsync(cancellationToken);
        var watch = await systemd.WatchUnitAsync(unitName, SignalCapacity, cancellationToken);
        try
        {
            if (await systemd.GetUnitAsync(unitName, cancellationToken) is null)
            {
                await watch.DisposeAsync();
                return null;
            }

            var status = await systemd.GetUnitStatusAsync(unitName, cancellationToken);
            if (status.NeverRan)
            {
                await watch.DisposeAsync();
                return null;
            }

            model ??= (await systemd.GetLogExtraFieldsAsync(unitName, cancellationToken)).GetValueOrDefault(BackendUnitDiscovery.ModelField) ?? "";
            return Track(unitName, model, status, status.StopTimeout, status.MemoryMaxBytes, watch, new FinalState());
        }
        catch
        {
            await watch.DisposeAsync();
            throw;
        }
    }

    private TrackedUnit Track(string unitName, string model, UnitStatus? status, TimeSpan stopTimeout, ulong? memoryMax, UnitWatch watch, FinalState final)
    {
        final.Settle(watch, status);
        var unit = new TrackedUnit(unitName, model, status?.InvocationId ?? "", (int)(status?.MainPid ?? 0), status?.ControlGroup ?? "", stopTimeout, memoryMax);
        units[unitName] = unit;
        unit.Monitor = MonitorAsync(unit, watch, final);
        return unit;
    }

    /// <summary>Completes the unit's Exited once systemd reports it inactive or failed; survives reconnects.</summary>
    private async Task MonitorAsync(TrackedUnit unit, UnitWatch watch, FinalState final)
    {
        try
        {
            while (!final.Ended)
            {
                try
                {
                    await foreach (var change in watch.ReadAllAsync(closing.Token))
                    {
                        final.Apply(change);
                        if (final.Ended)
                        {
                            break;
                        }
                    }
                }
                catch (DBusDisconnectedException e)
                {
                    LogWatchLost(unit.UnitName, e.Message);
                }

                await watch.DisposeAsync();
                if (!final.Ended)
                {
                    watch = await RewatchAsync(unit, final);
                }
            }

            var exit = final.ToExit(unit.StopTimeout, unit.MemoryMaxBytes);
            LogExited(unit.UnitName, exit.Reason);
            unit.Complete(exit);
            if (final.Failed)
            {
                await ResetFailedAsync(unit.UnitName);
            }
        }
        catch (OperationCanceledException) when (closing.IsCancellationRequested)
        {
            // ullmd is stopping; the unit runs on and the next ullmd adopts it.
            await watch.DisposeAsync();
        }
        catch (Exception e)
        {
            LogMonitorFailed(e, unit.UnitName);
            unit.Fail(e);
        }
    }

    /// <summary>Waits for the bus to be back (it reconnects with backoff), then reads the unit's state so nothing that happened meanwhile is lost.</summary>
    private async Task<UnitWatch> RewatchAsync(TrackedUnit unit, FinalState final)
    {
        while (true)
        {
            closing.Token.ThrowIfCancellationRequested();
            try
            {
                var systemd = await bus.GetAsync(closing.Token);
                var watch = await systemd.WatchUnitAsync(unit.UnitName, SignalCapacity, closing.Token);
                var status = await systemd.GetUnitAsync(unit.UnitName, closing.Token) is null ? null : await systemd.GetUnitStatusAsync(unit.UnitName, closing.Token);
                final.Settle(watch, status is not null && status.InvocationId != unit.InvocationId ? null : status);

                return watch;
            }
            catch (DBusException e)
            {
                LogReconnectFailed(unit.UnitName, e.Message);
                await Task.Delay(ReconnectDelay, time, closing.Token);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{Unit}: started {ExecPath} as a transient systemd unit")]
    private partial void LogStarted(string unit, string execPath);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Unit}: {Reason}")]
    private partial void LogExited(string unit, string reason);

    // The bus logs the loss and the return once (SystemdBus); per unit it is detail.
    [LoggerMessage(Level = LogLevel.Debug, Message = "{Unit}: lost the D-Bus connection while watching it ({Reason}); watching again once it is back")]
    private partial void LogWatchLost(string unit, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Unit}: could not watch it again yet ({Reason}); retrying")]
    private partial void LogReconnectFailed(string unit, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Unit}: failed while no ullmd watched it (journalctl -u {Unit} says why); resetting it")]
    private partial void LogFailedWhileUnwatched(string unit);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Unit}: belongs to another ullmd (ULLM_OWNER={Mark}, ours is {Ours}); left alone")]
    private partial void LogOthersLeftAlone(string unit, string mark, string ours);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Unit}: has no owner mark and no record in this ullmd's database (another ullmd's from before owner marks, or from a lost database); left alone: 'systemctl stop {Unit}' ends it")]
    private partial void LogUnmarkedLeftAlone(string unit);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Unit}: could not reset the failed unit: {Reason}")]
    private partial void LogResetFailed(string unit, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "{Unit}: watching the unit failed")]
    private partial void LogMonitorFailed(Exception e, string unit);

    private sealed class TrackedUnit(string unitName, string model, string invocationId, int mainPid, string controlGroup, TimeSpan stopTimeout, ulong? memoryMaxBytes)
    {
        private readonly TaskCompletionSource<BackendExit> exited = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public string UnitName { get; } = unitName;

        public string InvocationId { get; } = invocationId;

        public string ControlGroup { get; } = controlGroup;

        public TimeSpan StopTimeout { get; } = stopTimeout;

        public ulong? MemoryMaxBytes { get; } = memoryMaxBytes;

        public Task<BackendExit> Exited => exited.Task;

        public Task Monitor { get; set; } = Task.CompletedTask;

        public BackendProcess ToProcess() => new(UnitName, model, InvocationId, mainPid, exited.Task);

        public void Complete(BackendExit exit) => exited.TrySetResult(exit);

        public void Fail(Exception e) => exited.TrySetException(e);
    }

    /// <summary>
    /// What systemd has said about a unit's end so far. systemd numbers replies and signals in one sequence, so a status
    /// read is newer than every signal with a lower serial and older than every one with a higher serial.
    /// </summary>
    private sealed class FinalState
    {
        private string result = "success";
        private int execMainCode;
        private int execMainStatus;
        private bool started;
        private bool vanished;

        public bool Ended { get; private set; }

        /// <summary>
        /// Takes a status read as the truth, then the buffered signals newer than it; without one (the unit was
        /// collected) the buffered signals are all there is, and if they do not show the end, the unit vanished unseen.
        /// </summary>
        public void Settle(UnitWatch watch, UnitStatus? status)
        {
            if (status is null || status.NeverRan)
            {
                ApplyBuffered(watch);
                if (!Ended)
                {
                    vanished = true;
                    Ended = true;
                }

                return;
            }

            (result, execMainCode, execMainStatus) = (status.Result, status.ExecMainCode, status.ExecMainStatus);
            started = true;
            Ended = status.ActiveState is "inactive" or "failed";
            while (!Ended && watch.TryRead(out var change))
            {
                if (change.Serial > status.ReplySerial)
                {
                    Apply(change);
                }
            }
        }

        public void Apply(UnitStateChanged change)
        {
            if (change.Result is { } r)
            {
                result = r;
            }

            if (change.Changed.TryGetValue("ExecMainCode", out var code))
            {
                execMainCode = code.AsInt32();
            }

            if (change.Changed.TryGetValue("ExecMainStatus", out var status))
            {
                execMainStatus = status.AsInt32();
            }

            // A transient unit is announced inactive before its start job runs; only an end after a start counts.
            started |= change.ActiveState is "activating" or "active" or "reloading" or "deactivating";
            Ended |= started && change.ActiveState is "inactive" or "failed";
        }

        public void ApplyBuffered(UnitWatch watch)
        {
            while (watch.TryRead(out var change))
            {
                Apply(change);
            }
        }

        public BackendExit ToExit(TimeSpan stopTimeout, ulong? memoryMaxBytes) => vanished
            ? new BackendExit("success", null, null, "ended while ullmd could not watch it; systemd had already collected the unit, which it does only after a clean end (CollectMode=inactive)")
            : SystemdExit.From(result, execMainCode, execMainStatus, stopTimeout, memoryMaxBytes);

        /// <summary>Whether systemd keeps the unit loaded (failed) until it is reset.</summary>
        public bool Failed => Ended && !vanished && result != "success";
    }
}
