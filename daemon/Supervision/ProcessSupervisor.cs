using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using UnifiedLlm.Daemon.Config;

namespace UnifiedLlm.Daemon.Supervision;

/// <summary>
/// Runs backends as plain child processes for hosts without systemd. Each backend is spawned as the leader of a session
/// of its own (<see cref="SessionSpawn"/>), and so of a process group, and is stopped and killed with everything it started. Its output goes to
/// a file of its own under <paramref name="outputDirectory"/> (followed into the log with ULLM_UNIT and ULLM_MODEL and
/// into a bounded per-unit buffer), not to a pipe, so a backend outlives a killed ullmd and the next one adopts it:
/// <see cref="ListRunningAsync"/> finds such backends by the environment they were started with.
/// Without systemd, MemoryMax=, the device allow-list and the path sandbox cannot be enforced; that is logged once.
/// </summary>
/// <param name="stopOnDispose">Whether disposing stops the backends (tests); ullmd leaves that to the scheduler.</param>
internal sealed partial class ProcessSupervisor(
    ILogger<ProcessSupervisor> logger, string? outputDirectory = null, bool stopOnDispose = true) : IBackendSupervisor
{
    /// <summary>The variables a backend inherits from ullmd; anything else it gets is in its launch's environment.</summary>
    public static readonly IReadOnlyList<string> InheritedVariables = ["PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR"];

    public const int LogLinesPerUnit = 1000;
    private const int ExitedUnitsKept = 32;
    private const long AdoptedOutputTail = 64 * 1024;

    private static readonly TimeSpan AdoptedPollInterval = TimeSpan.FromMilliseconds(100);

    private readonly ConcurrentDictionary<string, Child> children = new(StringComparer.Ordinal);
    private readonly string outputs = outputDirectory ?? Directory.CreateTempSubdirectory("ullm-backend-output-").FullName;
    private readonly CancellationTokenSource closing = new();
    private int limitsWarned;
    private int disposed;

    public string Kind => EnumNames.Supervisors.NameOf(SupervisorKind.Process);

    public Task<BackendProcess> StartAsync(BackendLaunch launch, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        WarnOnceAboutLimits(launch);
        if (children.TryGetValue(launch.UnitName, out var existing) && !existing.Process.Exited.IsCompleted)
        {
            throw new InvalidOperationException($"backend unit '{launch.UnitName}' is already running");
        }

        Directory.CreateDirectory(outputs, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

        // Created by the spawn itself (O_CREAT|O_APPEND), before the backend runs and before the tail opens it.
        var output = Path.Combine(outputs, launch.UnitName + ".log");
        var invocation = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));

        // Only what a backend needs of ullmd's environment: the rest may hold secrets (a provider's API key in an
        // environment file), which a backend process has no use for and /proc/PID/environ would show.
        var environment = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var name in InheritedVariables)
        {
            if (Environment.GetEnvironmentVariable(name) is { } inherited)
            {
                environment[name] = inherited;
            }
        }

        foreach (var (name, value) in launch.Environment)
        {
            environment[name] = value;
        }

        if (launch.GpuIndices.Count > 0 && !launch.Environment.ContainsKey("CUDA_VISIBLE_DEVICES"))
        {
            environment["CUDA_VISIBLE_DEVICES"] = string.Join(',', launch.GpuIndices);
        }

        environment[BackendProcessScan.UnitVariable] = launch.UnitName;
        environment[BackendProcessScan.ModelVariable] = launch.Model;
        environment[BackendProcessScan.InvocationVariable] = invocation;
        environment[BackendProcessScan.OutputVariable] = output;

        int pid;
        try
        {
            pid = SessionSpawn.Start(launch.ExecPath, launch.Arguments, environment, output);
        }
        catch (InvalidOperationException e)
        {
            throw new InvalidOperationException($"backend unit '{launch.UnitName}': {e.Message}", e);
        }

        var child = Track(launch.UnitName, launch.Model, invocation, pid, launch.StopTimeout, output);
        LogStarted(launch.UnitName, pid, launch.ExecPath);
        child.Supervision = SuperviseChildAsync(pid, child);
        return Task.FromResult(child.Process);
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

    /// <summary>Our running backends, including those an earlier ullmd started here, which are adopted on the way.</summary>
    public Task<IReadOnlyList<BackendProcess>> ListRunningAsync(CancellationToken cancellationToken)
    {
        foreach (var found in BackendProcessScan.Find(outputs))
        {
            if (!children.TryGetValue(found.UnitName, out var known) || known.Process.Exited.IsCompleted)
            {
                Adopt(found);
            }
        }

        return Task.FromResult<IReadOnlyList<BackendProcess>>(
            [.. children.Values.Select(c => c.Process).Where(p => !p.Exited.IsCompleted).OrderBy(p => p.UnitName, StringComparer.Ordinal)]);
    }

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
        if (Interlocked.Exchange(ref disposed, 1) == 1)
        {
            return;
        }

        if (stopOnDispose)
        {
            await Task.WhenAll(children.Values.Where(c => !c.Process.Exited.IsCompleted).Select(c => StopQuietlyAsync(c.Process.UnitName)));
        }

        await closing.CancelAsync();
        await Task.WhenAll(children.Values.Select(c => c.Supervision));
        closing.Dispose();
    }

    private Child Track(string unit, string model, string invocation, int pid, TimeSpan stopTimeout, string output)
    {
        var log = new BackendLogBuffer(LogLinesPerUnit);
        var exited = new TaskCompletionSource<BackendExit>(TaskCreationOptions.RunContinuationsAsynchronously);
        var child = new Child(new BackendProcess(unit, model, invocation, pid, exited.Task) { Output = log }, exited, stopTimeout, log, output);
        ForgetOldExitedUnits();
        children[unit] = child;
        return child;
    }

    private void Adopt(FoundBackend found)
    {
        // A backend's stop timeout is not recorded with it; an adopted one gets the launch default.
        var child = Track(found.UnitName, found.Model, found.InvocationId, found.Pid, BackendLaunch.DefaultStopTimeout, found.OutputFile);
        LogAdopted(found.UnitName, found.Pid);
        var offset = File.Exists(found.OutputFile) ? OutputFileTail.RecentStart(found.OutputFile, AdoptedOutputTail) : 0;
        child.Supervision = SuperviseAdoptedAsync(found, child, offset);
    }

    private async Task SuperviseChildAsync(int pid, Child child)
    {
        try
        {
            // waitpid(2) blocks, so it has a thread of its own, as .NET's Process has for SIGCHLD.
            var reaped = Task.Factory.StartNew(() => SessionSpawn.WaitForExit(pid), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            var ended = reaped.WaitAsync(closing.Token);
            var tail = FollowOutputAsync(child, 0, ended);
            try
            {
                await ended;
            }
            catch (OperationCanceledException) when (closing.IsCancellationRequested)
            {
                // ullmd is stopping and leaves the backend running for the next one to adopt.
                await tail;
                child.Log.Complete();
                return;
            }

            var (code, signal) = await reaped;

            // Like systemd's KillMode=mixed: what the backend left behind in its group goes with it.
            ProcessGroupSignals.Send(pid, ProcessGroupSignals.Kill);
            await tail;
            Complete(child, child.TimedOut ? BackendExits.TimedOut(child.StopTimeout) : signal is { } killedBy ? BackendExits.Killed(killedBy) : BackendExits.Exited(code!.Value));
        }
        catch (Exception e)
        {
            child.Log.Complete();
            child.ExitedSource.TrySetException(e);
        }
    }

    /// <summary>Not our child, so no wait(2): the process is watched through /proc, and its exit status is not known.</summary>
    private async Task SuperviseAdoptedAsync(FoundBackend found, Child child, long offset)
    {
        try
        {
            var ended = WaitGoneAsync(found, closing.Token);
            var tail = FollowOutputAsync(child, offset, ended);
            await ended;
            await tail;
            Complete(child, child.TimedOut
                ? BackendExits.TimedOut(child.StopTimeout)
                : new BackendExit("unknown", null, null, "ended; its exit status is unknown (it was started by an earlier ullmd)"));
        }
        catch (OperationCanceledException) when (closing.IsCancellationRequested)
        {
            child.Log.Complete();
        }
        catch (Exception e)
        {
            child.Log.Complete();
            child.ExitedSource.TrySetException(e);
        }
    }

    private static async Task WaitGoneAsync(FoundBackend found, CancellationToken cancellationToken)
    {
        while (BackendProcessScan.StartTime(found.Pid) == found.StartTime)
        {
            await Task.Delay(AdoptedPollInterval, cancellationToken);
        }
    }

    private async Task FollowOutputAsync(Child child, long offset, Task ended)
    {
        var unit = child.Process.UnitName;
        using var scope = logger.BeginScope(new Dictionary<string, object> { ["ULLM_UNIT"] = unit, ["ULLM_MODEL"] = child.Process.Model });
        try
        {
            await OutputFileTail.RunAsync(child.OutputFile, offset, ended, child.Log.Demand, OutputFileTail.UnfollowedPace, line =>
            {
                child.Log.Append(new BackendLogLine(DateTimeOffset.UtcNow, unit, line, 6));
                LogOutput(unit, line);
            }, closing.Token);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            LogOutputLost(unit, e.Message);
        }
        catch (OperationCanceledException) when (closing.IsCancellationRequested)
        {
        }
    }

    private void Complete(Child child, BackendExit exit)
    {
        LogExited(child.Process.UnitName, exit.Reason);
        child.Log.Complete();
        child.ExitedSource.TrySetResult(exit);
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
            if (children.TryRemove(old.Process.UnitName, out _))
            {
                File.Delete(old.OutputFile);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "supervisor \"process\" cannot enforce MemoryMax, the GPU device allow-list or the path sandbox (first seen for {Unit}); set [server] supervisor = \"systemd\" to enforce them")]
    private partial void LogLimitsNotEnforced(string unit);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Unit}: started {ExecPath} as process group {Pid}")]
    private partial void LogStarted(string unit, int pid, string execPath);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Unit}: found running as process group {Pid}, started by an earlier ullmd")]
    private partial void LogAdopted(string unit, int pid);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Unit}: {Line}")]
    private partial void LogOutput(string unit, string line);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Unit}: {Reason}")]
    private partial void LogExited(string unit, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Unit}: did not stop within {Seconds} s of SIGTERM; sending SIGKILL to its process group")]
    private partial void LogStopTimedOut(string unit, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Unit}: its output can no longer be read: {Reason}")]
    private partial void LogOutputLost(string unit, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "{Unit}: could not stop it")]
    private partial void LogStopFailed(Exception e, string unit);

    private sealed class Child(BackendProcess process, TaskCompletionSource<BackendExit> exited, TimeSpan stopTimeout, BackendLogBuffer log, string outputFile)
    {
        public BackendProcess Process { get; } = process;

        public TaskCompletionSource<BackendExit> ExitedSource { get; } = exited;

        public TimeSpan StopTimeout { get; } = stopTimeout;

        public BackendLogBuffer Log { get; } = log;

        public string OutputFile { get; } = outputFile;

        public Task Supervision { get; set; } = Task.CompletedTask;

        public volatile bool TimedOut;
    }
}
