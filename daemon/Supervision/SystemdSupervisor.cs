using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using UnifiedLlm.Daemon.Systemd;
using UnifiedLlm.Daemon.Systemd.DBus;

namespace UnifiedLlm.Daemon.Supervision;

/// <summary>
/// Runs each backend as a transient systemd service in ullm.slice, sandboxed and memory-limited, with only its GPUs'
/// device nodes allowed. Exits are learnt from the unit's PropertiesChanged signals; output is read from the journal.
/// </summary>
/// <param name="gpuDeviceNodes">The /dev nodes of the GPU with this NVML index (<see cref="Gpu.GpuDevicePaths"/>).</param>
/// <param name="journalDirectory">Passed to journalctl --directory when the journal is not the local one.</param>
internal sealed partial class SystemdSupervisor(
    SystemdManager systemd, Func<int, IReadOnlyList<string>> gpuDeviceNodes, ILogger<SystemdSupervisor> logger, string? journalDirectory = null)
    : IBackendSupervisor
{
    private const int WatchCapacity = 256;
    private const int ExecMainExited = 1;

    private readonly ConcurrentDictionary<string, Lazy<Task<BackendProcess>>> tracked = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource disposing = new();

    public string Kind => "systemd";

    public async Task<BackendProcess> StartAsync(BackendLaunch launch, CancellationToken cancellationToken)
    {
        var spec = ToSpec(launch);
        var watch = await systemd.WatchUnitAsync(launch.UnitName, WatchCapacity, cancellationToken);
        try
        {
            await systemd.StartTransientUnitAsync(launch.UnitName, spec, cancellationToken);
        }
        catch
        {
            await watch.DisposeAsync();
            throw;
        }

        var backend = await TrackAsync(launch.UnitName, launch.Model, launch.MemoryMaxBytes, launch.StopTimeout, watch, cancellationToken);
        tracked[launch.UnitName] = new Lazy<Task<BackendProcess>>(Task.FromResult(backend));
        LogStarted(launch.UnitName, backend.MainPid, backend.InvocationId);
        return backend;
    }

    public async Task<BackendExit> StopAsync(string unitName, CancellationToken cancellationToken)
    {
        var backend = await FindAsync(unitName, cancellationToken);
        if (!backend.Exited.IsCompleted)
        {
            try
            {
                await systemd.StopUnitAsync(unitName, cancellationToken);
            }
            catch (DBusErrorException e) when (e.ErrorName == "org.freedesktop.systemd1.NoSuchUnit")
            {
                // Ended and collected between the look-up and the stop; Exited says how.
            }
        }

        return await backend.Exited.WaitAsync(cancellationToken);
    }

    public async Task<IReadOnlyList<BackendProcess>> ListRunningAsync(CancellationToken cancellationToken)
    {
        var result = new List<BackendProcess>();
        foreach (var unit in await BackendUnitDiscovery.FindAsync(systemd, cancellationToken))
        {
            var backend = await FindAsync(unit.UnitName, cancellationToken);
            if (!backend.Exited.IsCompleted)
            {
                result.Add(backend);
            }
        }

        return [.. result.OrderBy(b => b.UnitName, StringComparer.Ordinal)];
    }

    public async IAsyncEnumerable<BackendLogLine> ReadLogsAsync(
        string unitName, int lines, bool follow, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var reader = new JournalReader(journalDirectory);
        await foreach (var line in reader.ReadAsync(unitName, lines, follow, cancellationToken))
        {
            yield return line;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await disposing.CancelAsync();
        disposing.Dispose();
    }

    internal TransientUnitSpec ToSpec(BackendLaunch launch)
    {
        var environment = launch.Environment.ToDictionary(StringComparer.Ordinal);
        if (launch.GpuIndices.Count > 0 && !environment.ContainsKey("CUDA_VISIBLE_DEVICES"))
        {
            environment["CUDA_VISIBLE_DEVICES"] = string.Join(',', launch.GpuIndices);
        }

        return new TransientUnitSpec
        {
            Description = $"ullm backend for {launch.Model}",
            ExecPath = launch.ExecPath,
            Arguments = [launch.ExecPath, .. launch.Arguments],
            Environment = [.. environment.Select(e => $"{e.Key}={e.Value}")],
            MemoryMaxBytes = launch.MemoryMaxBytes,
            AllowedDevices = [.. launch.GpuIndices.SelectMany(gpuDeviceNodes).Distinct(StringComparer.Ordinal)],
            ReadOnlyPaths = launch.ReadOnlyPaths,
            ReadWritePaths = launch.ReadWritePaths,
            StopTimeout = launch.StopTimeout,
            SyslogIdentifier = launch.UnitName[..^UnitName.Suffix.Length],
            LogExtraFields = new Dictionary<string, string> { [BackendUnitDiscovery.ModelField] = launch.Model, ["ULLM_UNIT"] = launch.UnitName },
        };
    }

    /// <summary>The backend of a unit started by this supervisor, or one found running (adopted, so its end is seen too).</summary>
    private async Task<BackendProcess> FindAsync(string unitName, CancellationToken cancellationToken)
    {
        var entry = tracked.GetOrAdd(unitName, name => new Lazy<Task<BackendProcess>>(() => WatchExistingAsync(name)));
        try
        {
            return await entry.Value.WaitAsync(cancellationToken);
        }
        catch (BackendNotFoundException)
        {
            tracked.TryRemove(new KeyValuePair<string, Lazy<Task<BackendProcess>>>(unitName, entry));
            throw;
        }
    }

    private async Task<BackendProcess> WatchExistingAsync(string unitName)
    {
        var cancellationToken = disposing.Token;
        var watch = await systemd.WatchUnitAsync(unitName, WatchCapacity, cancellationToken);
        try
        {
            var fields = await systemd.GetLogExtraFieldsAsync(unitName, cancellationToken);
            var memoryMax = (await systemd.GetPropertyAsync(unitName, "org.freedesktop.systemd1.Service", "MemoryMax", cancellationToken)).AsUInt64();
            var stopTimeout = TimeSpan.FromMicroseconds((await systemd.GetPropertyAsync(unitName, "org.freedesktop.systemd1.Service", "TimeoutStopUSec", cancellationToken)).AsUInt64());
            return await TrackAsync(unitName, fields.GetValueOrDefault(BackendUnitDiscovery.ModelField) ?? "", memoryMax == ulong.MaxValue ? null : memoryMax, stopTimeout, watch, cancellationToken);
        }
        catch (DBusErrorException e) when (e.ErrorName is "org.freedesktop.systemd1.NoSuchUnit" or "org.freedesktop.DBus.Error.UnknownObject"
            or "org.freedesktop.DBus.Error.UnknownProperty" or "org.freedesktop.DBus.Error.UnknownInterface")
        {
            await watch.DisposeAsync();
            throw new BackendNotFoundException(unitName);
        }
        catch
        {
            await watch.DisposeAsync();
            throw;
        }
    }

    private async Task<BackendProcess> TrackAsync(string unitName, string model, ulong? memoryMax, TimeSpan stopTimeout, UnitWatch watch, CancellationToken cancellationToken)
    {
        UnitStatus? status = null;
        try
        {
            status = await systemd.GetUnitStatusAsync(unitName, cancellationToken);
        }
        catch (DBusErrorException e) when (e.ErrorName is "org.freedesktop.systemd1.NoSuchUnit" or "org.freedesktop.DBus.Error.UnknownObject"
            or "org.freedesktop.DBus.Error.UnknownProperty" or "org.freedesktop.DBus.Error.UnknownInterface")
        {
            // It already ended and was collected; the buffered signals say how.
        }

        var exited = new TaskCompletionSource<BackendExit>(TaskCreationOptions.RunContinuationsAsynchronously);
        _ = FollowAsync(unitName, memoryMax, stopTimeout, watch, status, exited);
        return new BackendProcess(unitName, model, status?.InvocationId ?? "", (int)(status?.MainPid ?? 0), exited.Task);
    }

    private async Task FollowAsync(string unitName, ulong? memoryMax, TimeSpan stopTimeout, UnitWatch watch, UnitStatus? initial, TaskCompletionSource<BackendExit> exited)
    {
        var known = new Dictionary<string, DBusValue>(StringComparer.Ordinal);
        try
        {
            await using (watch)
            {
                if (initial is not null && initial.ActiveState is "inactive" or "failed" && initial.InvocationId.Length > 0 && initial.ExecMainCode != 0)
                {
                    exited.TrySetResult(ToExit(initial.Result, initial.ExecMainCode, initial.ExecMainStatus, memoryMax, stopTimeout));
                    return;
                }

                await foreach (var change in watch.ReadAllAsync(disposing.Token))
                {
                    foreach (var (name, value) in change.Changed)
                    {
                        known[name] = value;
                    }

                    if (change.ActiveState is "inactive" or "failed")
                    {
                        var exit = await ReadExitAsync(unitName, known, memoryMax, stopTimeout);
                        LogExited(unitName, exit.Reason);
                        exited.TrySetResult(exit);
                        return;
                    }
                }
            }
        }
        catch (OperationCanceledException) when (disposing.IsCancellationRequested)
        {
            exited.TrySetCanceled(disposing.Token);
        }
        catch (Exception e)
        {
            LogWatchFailed(e, unitName);
            exited.TrySetException(e);
        }
    }

    private async Task<BackendExit> ReadExitAsync(string unitName, Dictionary<string, DBusValue> known, ulong? memoryMax, TimeSpan stopTimeout)
    {
        if (!(known.ContainsKey("Result") && known.ContainsKey("ExecMainCode") && known.ContainsKey("ExecMainStatus")))
        {
            var status = await systemd.GetUnitStatusAsync(unitName, disposing.Token);
            return ToExit(status.Result, status.ExecMainCode, status.ExecMainStatus, memoryMax, stopTimeout);
        }

        return ToExit(known["Result"].AsString(), known["ExecMainCode"].AsInt32(), known["ExecMainStatus"].AsInt32(), memoryMax, stopTimeout);
    }

    /// <summary>
    /// Maps systemd's Result and ExecMainCode/ExecMainStatus (CLD_EXITED = 1: an exit status; CLD_KILLED/CLD_DUMPED: a
    /// signal). Under cgroup v1 an OOM kill shows as a plain SIGKILL, so with a MemoryMax the limit is named as the likely cause.
    /// </summary>
    internal static BackendExit ToExit(string result, int execMainCode, int execMainStatus, ulong? memoryMax, TimeSpan stopTimeout)
    {
        if (execMainCode == ExecMainExited)
        {
            var exit = BackendExits.Exited(execMainStatus);
            return exit with { Result = result };
        }

        if (result == "timeout")
        {
            return BackendExits.TimedOut(stopTimeout) with { Signal = execMainStatus };
        }

        var note = result == "oom-kill" ? "(memory limit reached)"
            : execMainStatus == ProcessGroupSignals.Kill && memoryMax is { } limit ? $"(memory limit {limit} bytes?)" : null;
        return BackendExits.Killed(execMainStatus, note) with { Result = result };
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{Unit}: started (MainPID {Pid}, invocation {InvocationId})")]
    private partial void LogStarted(string unit, int pid, string invocationId);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Unit}: {Reason}")]
    private partial void LogExited(string unit, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "{Unit}: lost track of the unit's state")]
    private partial void LogWatchFailed(Exception e, string unit);
}
