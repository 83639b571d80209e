using Polly;
using Polly.Retry;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Gpu;
using UnifiedLlm.Daemon.Scheduling.Planning;
using UnifiedLlm.Daemon.Supervision;
using UnifiedLlm.Daemon.Systemd;

namespace UnifiedLlm.Daemon.Backends.Rpc;

/// <summary>
/// [rpc_worker]: keeps ggml-rpc-server running through the backend supervisor (a sandboxed transient unit in ullm.slice,
/// or a plain process). After a run of over a minute it is started again at once; one that ends or fails to start
/// sooner is retried by a Polly retry 1 s later, doubling up to a minute while it keeps failing. Once it listens, its
/// devices' memory is read over the RPC protocol on its own listen address, as a head reads it, and logged. Stopped
/// with ullmd.
/// </summary>
internal sealed partial class RpcWorkerRole(
    ConfigHolder config,
    IBackendSupervisor supervisor,
    GpuMonitor gpus,
    TimeProvider time,
    ILogger<RpcWorkerRole> logger) : BackgroundService
{
    public const string ModelLabel = "rpc-worker";
    private static readonly TimeSpan FirstRetry = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan LastRetry = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan ProbeTime = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan ReportInterval = TimeSpan.FromMilliseconds(250);
    private const int ReportAttempts = 40;
    private string? unit;

    /// <summary>Retries a run that was brief (false); a run of over a minute (true) ends the pipeline, and its backoff with it.</summary>
    private readonly ResiliencePipeline<bool> restarts = new ResiliencePipelineBuilder<bool> { TimeProvider = time }
        .AddRetry(new RetryStrategyOptions<bool>
        {
            ShouldHandle = args => ValueTask.FromResult(args.Outcome is { Exception: null, Result: false }),
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = false,
            Delay = FirstRetry,
            MaxDelay = LastRetry,
            MaxRetryAttempts = int.MaxValue,
        })
        .Build();

    /// <summary>Its devices as it reports them on its listen address, or why they cannot be read.</summary>
    private static async Task<(IReadOnlyList<RpcDeviceMemory> Devices, string? Problem)> Reading(RpcWorkerRoleConfig worker, CancellationToken cancellationToken)
    {
        try
        {
            return (await RpcProbe.ReadAsync(worker.ListenHost, worker.ListenPort, ProbeTime, cancellationToken).ConfigureAwait(false), null);
        }
        catch (RpcProbeException e)
        {
            return ([], e.Message);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (config.Current.RpcWorker is not { } worker)
        {
            return;
        }

        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await restarts.ExecuteAsync(async ct => await RunAsync(worker, ct).ConfigureAwait(false), stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
        }
    }

    /// <summary>Starts the worker and waits for its end; whether it ran for over a minute (false also when it did not start).</summary>
    private async Task<bool> RunAsync(RpcWorkerRoleConfig worker, CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        var name = UnitName.ForModel(ModelLabel, Guid.NewGuid().ToString("N")[..8]);
        try
        {
            var process = await supervisor.StartAsync(Launch(worker, name), cancellationToken).ConfigureAwait(false);
            unit = name;
            LogStarted(name, process.MainPid, $"{worker.ListenHost}:{worker.ListenPort}");
            await ReportDevicesAsync(worker, name, process, cancellationToken).ConfigureAwait(false);
            var exit = await process.Exited.WaitAsync(cancellationToken).ConfigureAwait(false);
            unit = null;
            LogEnded(name, exit.Reason);
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or UnauthorizedAccessException or System.ComponentModel.Win32Exception)
        {
            LogStartFailed(e, name, e.Message);
            return false;
        }

        return time.GetElapsedTime(started) > LastRetry;
    }

    /// <summary>
    /// Logs its devices' memory as a head will read it, once it listens (it starts listening after it has made its
    /// devices' backends, which takes a moment on a GPU); a head connecting first is let be.
    /// </summary>
    private async Task ReportDevicesAsync(RpcWorkerRoleConfig worker, string name, BackendProcess process, CancellationToken cancellationToken)
    {
        var (devices, problem) = (Array.Empty<RpcDeviceMemory>() as IReadOnlyList<RpcDeviceMemory>, (string?)"not read");
        for (var attempt = 0; attempt < ReportAttempts && problem is not null && !process.Exited.IsCompleted; attempt++)
        {
            await Task.WhenAny(process.Exited, Task.Delay(ReportInterval, time, cancellationToken)).ConfigureAwait(false);
            (devices, problem) = await Reading(worker, cancellationToken).ConfigureAwait(false);
        }

        if (problem is null)
        {
            LogDevices(name, string.Join(", ", devices.Select(d => $"device {d.Index}: {d.FreeBytes} bytes free of {d.TotalBytes}")));
        }
        else if (!process.Exited.IsCompleted)
        {
            LogDevicesUnread(name, problem);
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        if (unit is { } running)
        {
            try
            {
                await supervisor.StopAsync(running, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is InvalidOperationException or BackendNotFoundException or IOException)
            {
                LogStopFailed(e, running, e.Message);
            }
        }
    }

    /// <summary>Its launch: the GPUs [gpu] allows visible (its devices choose among them), its cache under the data directory.</summary>
    public BackendLaunch Launch(RpcWorkerRoleConfig worker, string unitName)
    {
        var cache = Path.Combine(config.Current.Server.DataDir, "rpc-cache");
        if (worker.Cache)
        {
            Directory.CreateDirectory(cache);
        }

        return new BackendLaunch
        {
            UnitName = unitName,
            Model = ModelLabel,
            ExecPath = worker.Executable,
            Arguments = RpcWorkerArguments.Build(worker),
            Environment = worker.Cache ? new Dictionary<string, string> { ["LLAMA_CACHE"] = cache } : new Dictionary<string, string>(),
            ReadWritePaths = worker.Cache ? [cache] : [],
            GpuIndices = [.. gpus.Current.Devices.Select(d => d.Index).Where(i => config.Current.Gpu.Allowed.Count == 0 || config.Current.Gpu.Allowed.Contains(i))],
        };
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "rpc worker: {Unit} (pid {Pid}) serves this host's devices on {Listen}")]
    private partial void LogStarted(string unit, int pid, string listen);

    [LoggerMessage(Level = LogLevel.Information, Message = "rpc worker: {Unit} exposes {Devices}")]
    private partial void LogDevices(string unit, string devices);

    [LoggerMessage(Level = LogLevel.Warning, Message = "rpc worker: {Unit} runs, but its devices could not be read: {Problem}")]
    private partial void LogDevicesUnread(string unit, string problem);

    [LoggerMessage(Level = LogLevel.Warning, Message = "rpc worker: {Unit} ended: {Reason}; starting it again")]
    private partial void LogEnded(string unit, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "rpc worker: {Unit} could not start: {Reason}; trying again")]
    private partial void LogStartFailed(Exception e, string unit, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "rpc worker: stopping {Unit} failed: {Reason}")]
    private partial void LogStopFailed(Exception e, string unit, string reason);
}
