using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Text;
using UnifiedLlm.Daemon.Backends.Rpc;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Storage;
using UnifiedLlm.Daemon.Supervision;

namespace UnifiedLlm.Daemon.Backends;

/// <summary>
/// One llama-server process per model, on a loopback port of its own, launched through the supervisor with only its
/// GPUs visible and only its model file readable; ready once GET /health answers 200 (503 while it loads). A load split
/// across RPC workers holds them (<see cref="RpcWorkerMonitor"/>) from its start to its stop; a worker that does not
/// answer fails the load before llama-server starts, and one that stops answering is named when llama-server ends.
/// </summary>
internal sealed class LlamaCppDriver(
    IBackendSupervisor supervisor, PortAllocator ports, HttpClient http, LlamaCppDriverOptions options, TimeProvider time, RpcWorkerMonitor? rpc = null)
    : IBackendDriver
{
    private readonly ConcurrentDictionary<string, int> portsByUnit = new(StringComparer.Ordinal);
    private readonly BackendReadiness readiness = new(supervisor, http, time);
    private readonly ConcurrentDictionary<string, string[]> workersByUnit = new(StringComparer.Ordinal);

    public BackendKind Kind => BackendKind.LlamaCpp;

    public async Task<RunningBackend> StartAsync(BackendStart start, CancellationToken cancellationToken)
    {
        var workers = start.Plan.Remote.Select(r => r.Device.Worker).Distinct(StringComparer.Ordinal).ToArray();
        if (workers.Length == 0)
        {
            return await StartLocalAsync(start, cancellationToken).ConfigureAwait(false);
        }

        if (rpc is null)
        {
            throw new BackendStartException($"llama-server for {start.Model.Name}: the plan uses RPC workers, but this driver reads none");
        }

        var silent = (await rpc.ReadNowAsync(workers, cancellationToken).ConfigureAwait(false)).Where(r => r.Problem is not null).ToArray();
        if (silent.Length > 0)
        {
            throw new BackendStartException($"llama-server for {start.Model.Name} not started: {string.Join("; ", silent.Select(r => r.Describe()))}");
        }

        rpc.Hold(workers, start.Model.Name);
        workersByUnit[start.UnitName] = workers;
        try
        {
            var backend = await StartLocalAsync(start, cancellationToken).ConfigureAwait(false);
            return backend with { Process = backend.Process with { Exited = NameSilentWorkersAsync(backend.Process.Exited, workers) } };
        }
        catch (BackendStartException e)
        {
            ReleaseWorkers(start.UnitName);
            throw new BackendStartException(await WithSilentWorkersAsync(e.Message, workers).ConfigureAwait(false));
        }
        catch
        {
            ReleaseWorkers(start.UnitName);
            throw;
        }
    }

    /// <summary>Its end as the supervisor saw it, with the workers that do not answer now named first.</summary>
    private async Task<BackendExit> NameSilentWorkersAsync(Task<BackendExit> exited, string[] workers)
    {
        var exit = await exited.ConfigureAwait(false);
        return exit with { Reason = await WithSilentWorkersAsync(exit.Reason, workers).ConfigureAwait(false) };
    }

    private async Task<string> WithSilentWorkersAsync(string reason, string[] workers)
    {
        var silent = (await rpc!.ReadNowAsync(workers, CancellationToken.None).ConfigureAwait(false)).Where(r => r.Problem is not null).ToArray();
        return silent.Length == 0 ? reason : $"{string.Join("; ", silent.Select(r => r.Describe()))}; {reason}";
    }

    private void ReleaseWorkers(string unitName)
    {
        if (workersByUnit.TryRemove(unitName, out var workers))
        {
            rpc?.Release(workers);
        }
    }

    private async Task<RunningBackend> StartLocalAsync(BackendStart start, CancellationToken cancellationToken)
    {
        var port = ports.Allocate();
        var environment = new Dictionary<string, string>(start.Backend.Environment, StringComparer.Ordinal)
        {
            ["CUDA_VISIBLE_DEVICES"] = LlamaServerArguments.VisibleDevices(start),
        };
        var launch = new BackendLaunch
        {
            UnitName = start.UnitName,
            Model = start.Model.Name,
            ExecPath = start.Backend.Executable,
            Arguments = LlamaServerArguments.Build(start, port),
            Environment = environment,
            GpuIndices = start.Plan.GpuIndices,
            ReadOnlyPaths = [Path.GetFullPath(start.Model.Source)],
            MemoryMaxBytes = BackendMemoryLimit.For(start.Plan),
        };
        BackendProcess process;
        try
        {
            process = await supervisor.StartAsync(launch, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            ports.Release(port);
            throw;
        }

        portsByUnit[start.UnitName] = port;
        var baseAddress = LoopbackAddress(port);
        start.Loading?.Invoke($"llama-server (pid {process.MainPid}) is loading {Path.GetFileName(start.Model.Source)}; ready when GET /health answers 200");
        try
        {
            await WaitReadyAsync(start, process, baseAddress, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await StopUnitAsync(start.UnitName).ConfigureAwait(false);
            throw;
        }

        return new RunningBackend(start.Model.Name, baseAddress, start.Model.Name, process, LlamaServerArguments.Slots(launch.Arguments));
    }

    /// <summary>The <c>--parallel</c> an adopted llama-server was started with, read back from its argv; 1 when that cannot be read.</summary>
    private static async Task<int> AdoptedSlotsAsync(int pid, CancellationToken cancellationToken)
    {
        try
        {
            var argv = await File.ReadAllTextAsync($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/cmdline", cancellationToken).ConfigureAwait(false);
            return LlamaServerArguments.Slots(argv.Split('\0', StringSplitOptions.RemoveEmptyEntries));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return 1;
        }
    }

    /// <summary>Takes over a llama-server on its recorded port, which it keeps, once GET /health answers 200 there.</summary>
    public async Task<RunningBackend?> AdoptAsync(InstanceRecord record, BackendProcess process, ModelConfig model, BackendConfig settings, CancellationToken cancellationToken)
    {
        if (record.Port is not { } port || process.Exited.IsCompleted || !ports.Reserve(port))
        {
            return null;
        }

        var backend = new RunningBackend(record.Model, LoopbackAddress(port), record.Model, process, await AdoptedSlotsAsync(process.MainPid, cancellationToken).ConfigureAwait(false));
        var healthy = false;
        try
        {
            healthy = await CheckHealthAsync(backend, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            if (!healthy)
            {
                ports.Release(port);
            }
        }

        if (!healthy)
        {
            return null;
        }

        portsByUnit[process.UnitName] = port;
        return backend;
    }

    public async Task StopAsync(RunningBackend backend, CancellationToken cancellationToken)
    {
        try
        {
            await supervisor.StopAsync(backend.Process.UnitName, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            if (portsByUnit.TryRemove(backend.Process.UnitName, out var port))
            {
                ports.Release(port);
            }

            ReleaseWorkers(backend.Process.UnitName);
        }
    }

    public Task<bool> CheckHealthAsync(RunningBackend backend, CancellationToken cancellationToken) =>
        IsHealthyAsync(http, new Uri(backend.BaseAddress, "health"), cancellationToken);

    private static async Task<bool> IsHealthyAsync(HttpClient client, Uri health, CancellationToken cancellationToken)
    {
        try
        {
            using var response = await client.GetAsync(health, cancellationToken).ConfigureAwait(false);
            return response.StatusCode == HttpStatusCode.OK;
        }
        catch (HttpRequestException)
        {
            return false;
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // The client's own timeout: it does not answer.
            return false;
        }
    }

    private static Uri LoopbackAddress(int port) => new($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}/");

    private async Task WaitReadyAsync(BackendStart start, BackendProcess process, Uri baseAddress, CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(options.LoadTimeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        var health = new Uri(baseAddress, "health");

        // Through the gateway's connections when given, kept open (the control client closes each one).
        using var pooled = start.Connections is { } connections ? new HttpClient(connections, disposeHandler: false) { Timeout = http.Timeout } : null;
        await using var wake = new ReadyLineWake(process, linked.Token);
        var loading = time.GetTimestamp();
        try
        {
            while (true)
            {
                var said = wake.Next();
                if (await IsHealthyAsync(pooled ?? http, health, linked.Token).ConfigureAwait(false))
                {
                    return;
                }

                if (process.Exited.IsCompleted)
                {
                    var exit = await process.Exited.ConfigureAwait(false);
                    throw await readiness.FailedAsync(process, $"llama-server for {start.Model.Name} exited before it was ready: {exit.Reason}", cancellationToken).ConfigureAwait(false);
                }

                await Task.WhenAny(process.Exited, said, Task.Delay(ReadinessPolling.After(time.GetElapsedTime(loading)), time, linked.Token)).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw await readiness.FailedAsync(
                process, $"llama-server for {start.Model.Name} was not ready at {health} within {options.LoadTimeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s", cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task StopUnitAsync(string unitName)
    {
        try
        {
            await supervisor.StopAsync(unitName, CancellationToken.None).ConfigureAwait(false);
        }
        finally
        {
            if (portsByUnit.TryRemove(unitName, out var port))
            {
                ports.Release(port);
            }
        }
    }
}
