using System.Collections.Concurrent;
using UnifiedLlm.Daemon.Backends;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Storage;
using UnifiedLlm.Daemon.Supervision;

namespace UnifiedLlm.Tests.Scheduling;

/// <summary>
/// A llama.cpp driver whose loads the test controls (held at a gate, failed on demand) and whose processes it can crash,
/// so the scheduler's races can be ordered deterministically. The real driver is exercised end to end elsewhere.
/// </summary>
internal sealed class FakeBackendDriver : IBackendDriver
{
    private readonly ConcurrentDictionary<string, (BackendStart Start, TaskCompletionSource<BackendExit> Exit)> running = new();
    private readonly ConcurrentDictionary<string, BackendStart> starting = new();
    private readonly Lock peakGate = new();
    private TaskCompletionSource startSignal = NewSignal();

    public BackendKind Kind => BackendKind.LlamaCpp;

    public ConcurrentQueue<BackendStart> Starts { get; } = new();

    public ConcurrentQueue<string> Stops { get; } = new();

    /// <summary>When set, loads wait for it.</summary>
    public TaskCompletionSource? Gate { get; set; }

    /// <summary>Completes when a load reaches the driver.</summary>
    public TaskCompletionSource Started { get; private set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Exception? FailWith { get; set; }

    public ulong RunningHostBytes => running.Values.Aggregate(0UL, (sum, r) => sum + r.Start.Plan.Estimate.HostTotalBytes);

    /// <summary>
    /// The most host memory the plans of the backends running and starting (held at the gate included) ever added up
    /// to, taken as each start reaches the driver: what a real machine would have had to hold at once.
    /// </summary>
    public ulong PeakHostBytes { get; private set; }

    /// <summary>The most starts ever at the driver at once (reached it, not yet running, failed or cancelled).</summary>
    public int PeakStarting { get; private set; }

    public async Task<RunningBackend> StartAsync(BackendStart start, CancellationToken cancellationToken)
    {
        lock (peakGate)
        {
            starting[start.UnitName] = start;
            PeakHostBytes = Math.Max(PeakHostBytes, RunningHostBytes + starting.Values.Aggregate(0UL, (sum, s) => sum + s.Plan.Estimate.HostTotalBytes));
            PeakStarting = Math.Max(PeakStarting, starting.Count);
        }

        Starts.Enqueue(start);
        Started.TrySetResult();
        Interlocked.Exchange(ref startSignal, NewSignal()).TrySetResult();
        var exit = new TaskCompletionSource<BackendExit>(TaskCreationOptions.RunContinuationsAsynchronously);
        try
        {
            if (Gate is { } gate)
            {
                await gate.Task.WaitAsync(cancellationToken);
            }

            if (FailWith is { } failure)
            {
                throw failure;
            }

            // Running before it stops starting, so that no start in between misses its bytes.
            running[start.UnitName] = (start, exit);
        }
        finally
        {
            starting.TryRemove(start.UnitName, out _);
        }

        return new RunningBackend(start.Model.Name, new Uri($"http://127.0.0.1:9/{start.UnitName}/"), start.Model.Name,
            new BackendProcess(start.UnitName, start.Model.Name, "invocation", 1000 + Starts.Count, exit.Task));
    }

    /// <summary>Runs as a stop reaches the driver, before the backend exits.</summary>
    public Func<RunningBackend, Task>? OnStop { get; set; }

    public async Task StopAsync(RunningBackend backend, CancellationToken cancellationToken)
    {
        if (OnStop is { } onStop)
        {
            await onStop(backend);
        }

        Stops.Enqueue(backend.Process.UnitName);
        if (running.TryRemove(backend.Process.UnitName, out var r))
        {
            r.Exit.TrySetResult(new BackendExit("success", 0, null, "stopped"));
        }
    }

    /// <summary>Its processes do not outlive the test's scheduler, so there is never anything to adopt.</summary>
    public Task<RunningBackend?> AdoptAsync(InstanceRecord record, BackendProcess process, ModelConfig model, BackendConfig settings, CancellationToken cancellationToken) =>
        Task.FromResult<RunningBackend?>(null);

    /// <summary>Models whose backend keeps running but no longer answers its health check.</summary>
    public ConcurrentDictionary<string, bool> Silent { get; } = new();

    public Task<bool> CheckHealthAsync(RunningBackend backend, CancellationToken cancellationToken) =>
        Task.FromResult(running.ContainsKey(backend.Process.UnitName) && !Silent.ContainsKey(backend.Model));

    /// <summary>True from the start of <paramref name="unit"/> until it is stopped or crashed.</summary>
    public bool IsRunning(string unit) => running.ContainsKey(unit);

    public void Crash(string model)
    {
        var unit = running.Single(r => r.Value.Start.Model.Name == model).Key;
        running.TryRemove(unit, out var r);
        r.Exit.TrySetResult(new BackendExit("signal", null, 9, "killed by signal KILL"));
    }

    public void ResetStarted() => Started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes once <paramref name="count"/> loads have reached the driver, whether or not they are held at the gate.</summary>
    public async Task StartsReachAsync(int count, CancellationToken cancellationToken)
    {
        while (true)
        {
            var next = Volatile.Read(ref startSignal);
            if (Starts.Count >= count)
            {
                return;
            }

            await next.Task.WaitAsync(cancellationToken);
        }
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
