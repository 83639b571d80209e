using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;

namespace UnifiedLlm.Daemon.Supervision;

/// <summary>
/// Runs backends as plain child processes for hosts without systemd. Each backend is exec'd through
/// <c>setsid</c>, so it leads its own session and process group and is stopped and killed with everything it started.
/// Output lines go to the log (with ULLM_UNIT and ULLM_MODEL) and to a bounded per-unit buffer.
/// Without systemd, MemoryMax=, the device allow-list and the path sandbox cannot be enforced; that is logged once.
/// .NET reports a death by signal N as exit code 128+N (as shells do), so such codes are read as signals.
/// </summary>
internal sealed partial class ProcessSupervisor(ILogger<ProcessSupervisor> logger, string setsidPath = "setsid") : IBackendSupervisor
{
    public const int LogLinesPerUnit = 1000;
    private const int ExitedUnitsKept = 32;
    private static readonly TimeSpan GroupLeaderLimit = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan OutputDrainLimit = TimeSpan.FromSeconds(5);

    private readonly ConcurrentDictionary<string, Child> children = new(StringComparer.Ordinal);
    private int limitsWarned;

    public string Kind => "process";

    public async Task<BackendProcess> StartAsync(BackendLaunch launch, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        WarnOnceAboutLimits(launch);
        if (children.TryGetValue(launch.UnitName, out var existing) && !existing.Process.Exited.IsCompleted)
        {
            throw new InvalidOperationException($"backend unit '{launch.UnitName}' is already running");
        }

        var start = new ProcessStartInfo(setsidPath)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(launch.ExecPath);
        foreach (var argument in launch.Arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in launch.Environment)
        {
            start.Environment[name] = value;
        }

        if (launch.GpuIndices.Count > 0 && !launch.Environment.ContainsKey("CUDA_VISIBLE_DEVICES"))
        {
            start.Environment["CUDA_VISIBLE_DEVICES"] = string.Join(',', launch.GpuIndices);
        }

        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {launch.ExecPath}");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"could not start {setsidPath} for backend unit '{launch.UnitName}': {e.Message}", e);
        }

        process.StandardInput.Close();
        // SuperviseAsync may finish (and dispose the process) before this method continues when the child dies at once.
        var pid = process.Id;
        var log = new BackendLogBuffer(LogLinesPerUnit);
        var exited = new TaskCompletionSource<BackendExit>(TaskCreationOptions.RunContinuationsAsynchronously);
        var backend = new BackendProcess(launch.UnitName, launch.Model, Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16)), pid, exited.Task);
        var child = new Child(backend, launch.StopTimeout, log);
        ForgetOldExitedUnits();
        children[launch.UnitName] = child;
        LogStarted(launch.UnitName, pid, launch.ExecPath);
        _ = SuperviseAsync(process, child, exited);
        await ProcessGroupSignals.WaitUntilGroupLeaderAsync(pid, GroupLeaderLimit, CancellationToken.None);
        return backend;
    }

    public async Task<BackendExit> StopAsync(string unitName, CancellationToken cancellationToken)
    {
        if (!children.TryGetValue(unitName, out var child))
        {
            throw new BackendNotFoundException(unitName);
        }

        var exited = child.Process.Exited;
        if (exited.IsCompleted)
        {
            return await exited;
        }

        ProcessGroupSignals.Send(child.Process.MainPid, ProcessGroupSignals.Terminate);
        try
        {
            return await exited.WaitAsync(child.StopTimeout, cancellationToken);
        }
        catch (TimeoutException)
        {
            child.TimedOut = true;
            LogStopTimedOut(unitName, child.StopTimeout.TotalSeconds);
            ProcessGroupSignals.Send(child.Process.MainPid, ProcessGroupSignals.Kill);
            return await exited.WaitAsync(cancellationToken);
        }
    }

    public Task<IReadOnlyList<BackendProcess>> ListRunningAsync(CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<BackendProcess>>(
            [.. children.Values.Select(c => c.Process).Where(p => !p.Exited.IsCompleted).OrderBy(p => p.UnitName, StringComparer.Ordinal)]);

    public async IAsyncEnumerable<BackendLogLine> ReadLogsAsync(
        string unitName, int lines, bool follow, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        if (!children.TryGetValue(unitName, out var child))
        {
            throw new BackendNotFoundException(unitName);
        }

        await foreach (var line in child.Log.ReadAsync(lines, follow, cancellationToken))
        {
            yield return line;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Task.WhenAll(children.Values.Where(c => !c.Process.Exited.IsCompleted).Select(c => StopQuietlyAsync(c.Process.UnitName)));
    }

    private async Task StopQuietlyAsync(string unitName)
    {
        try
        {
            await StopAsync(unitName, CancellationToken.None);
        }
        catch (Exception e) when (e is InvalidOperationException or BackendNotFoundException)
        {
            LogStopFailed(e, unitName);
        }
    }

    private async Task SuperviseAsync(Process process, Child child, TaskCompletionSource<BackendExit> exited)
    {
        try
        {
            var unit = child.Process.UnitName;
            using var scope = logger.BeginScope(new Dictionary<string, object> { ["ULLM_UNIT"] = unit, ["ULLM_MODEL"] = child.Process.Model });
            var output = Task.WhenAll(PumpAsync(process.StandardOutput, child), PumpAsync(process.StandardError, child));
            await process.WaitForExitAsync(CancellationToken.None);
            var code = process.ExitCode;

            // Like systemd's KillMode=mixed: what the backend left behind in its group goes with it.
            ProcessGroupSignals.Send(process.Id, ProcessGroupSignals.Kill);
            try
            {
                await output.WaitAsync(OutputDrainLimit);
            }
            catch (TimeoutException)
            {
                LogOutputNotClosed(unit, OutputDrainLimit.TotalSeconds);
            }

            var exit = child.TimedOut ? BackendExits.TimedOut(child.StopTimeout) : code > 128 && code < 160 ? BackendExits.Killed(code - 128) : BackendExits.Exited(code);
            LogExited(unit, exit.Reason);
            child.Log.Complete();
            exited.TrySetResult(exit);
        }
        catch (Exception e)
        {
            child.Log.Complete();
            exited.TrySetException(e);
        }
        finally
        {
            process.Dispose();
        }
    }

    private async Task PumpAsync(StreamReader reader, Child child)
    {
        while (await reader.ReadLineAsync() is { } line)
        {
            child.Log.Append(new BackendLogLine(DateTimeOffset.UtcNow, child.Process.UnitName, line, 6));
            LogOutput(child.Process.UnitName, line);
        }
    }

    private void WarnOnceAboutLimits(BackendLaunch launch)
    {
        if (Interlocked.Exchange(ref limitsWarned, 1) == 0)
        {
            LogLimitsNotEnforced(launch.UnitName);
        }
    }

    private void ForgetOldExitedUnits()
    {
        var exited = children.Values.Where(c => c.Process.Exited.IsCompleted).ToList();
        foreach (var old in exited.Take(Math.Max(0, exited.Count - ExitedUnitsKept + 1)))
        {
            children.TryRemove(old.Process.UnitName, out _);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "supervisor \"process\" cannot enforce MemoryMax, the GPU device allow-list or the path sandbox (first seen for {Unit}); set [server] supervisor = \"systemd\" to enforce them")]
    private partial void LogLimitsNotEnforced(string unit);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Unit}: started {ExecPath} as process group {Pid}")]
    private partial void LogStarted(string unit, int pid, string execPath);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Unit}: {Line}")]
    private partial void LogOutput(string unit, string line);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Unit}: {Reason}")]
    private partial void LogExited(string unit, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Unit}: did not stop within {Seconds} s of SIGTERM; sending SIGKILL to its process group")]
    private partial void LogStopTimedOut(string unit, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Unit}: output still open {Seconds} s after exit (a process left its group); no longer reading it")]
    private partial void LogOutputNotClosed(string unit, double seconds);

    [LoggerMessage(Level = LogLevel.Error, Message = "{Unit}: could not stop it")]
    private partial void LogStopFailed(Exception e, string unit);

    private sealed class Child(BackendProcess process, TimeSpan stopTimeout, BackendLogBuffer log)
    {
        public BackendProcess Process { get; } = process;

        public TimeSpan StopTimeout { get; } = stopTimeout;

        public BackendLogBuffer Log { get; } = log;

        public volatile bool TimedOut;
    }
}
