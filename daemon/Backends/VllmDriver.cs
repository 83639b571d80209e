using System.Globalization;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Scheduling.Planning;
using UnifiedLlm.Daemon.Storage;
using UnifiedLlm.Daemon.Supervision;

namespace UnifiedLlm.Daemon.Backends;

/// <summary>
/// One <c>vllm serve</c> per model, started through the supervisor on the plan's GPUs with the plan's limits
/// (<see cref="VllmLaunch"/>: <c>--gpu-memory-utilization</c>, <c>--max-model-len</c>, <c>--max-num-seqs</c>,
/// <c>--tensor-parallel-size</c>), ready once GET /health answers 200. A model split over nodes adds
/// <c>--pipeline-parallel-size</c> and <c>--distributed-executor-backend ray</c>, and names the Ray cluster in RAY_ADDRESS.
/// </summary>
internal sealed class VllmDriver(
    IBackendSupervisor supervisor,
    VllmDriverOptions options,
    HttpClient http,
    TimeProvider time) : IBackendDriver
{
    private const int DefaultMaxNumSeqs = 256;

    private readonly BackendReadiness readiness = new(supervisor, http, time);

    public BackendKind Kind => BackendKind.Vllm;

    public async Task<RunningBackend> StartAsync(BackendStart start, CancellationToken cancellationToken)
    {
        var port = LoopbackPort.Allocate();
        var launch = BuildLaunch(start, port);
        var process = await supervisor.StartAsync(launch, cancellationToken);
        var baseAddress = new Uri($"http://127.0.0.1:{port}/");
        start.Loading?.Invoke($"vLLM (pid {process.MainPid}) is loading {start.Model.Source}; ready when GET /health answers 200");
        try
        {
            await readiness.WaitAsync(process, new Uri(baseAddress, "health"), options.LoadTimeout, cancellationToken);
        }
        catch
        {
            if (!process.Exited.IsCompleted)
            {
                await supervisor.StopAsync(process.UnitName, CancellationToken.None);
            }

            throw;
        }

        return new RunningBackend(start.Model.Name, baseAddress, start.Model.Name, process, Slots(launch.Arguments));
    }

    /// <summary>vLLM batches up to <c>--max-num-seqs</c> sequences at once (256 unless set) and queues the rest itself.</summary>
    public static int Slots(IReadOnlyList<string> arguments) => ArgumentValues.LastInt(arguments, ["--max-num-seqs"]) ?? DefaultMaxNumSeqs;

    public async Task StopAsync(RunningBackend backend, CancellationToken cancellationToken)
    {
        if (!backend.Process.Exited.IsCompleted)
        {
            await supervisor.StopAsync(backend.Process.UnitName, cancellationToken);
        }
    }

    /// <summary>
    /// Takes over a <c>vllm serve</c> on its recorded port once GET /health answers 200 there, serving as many requests at
    /// once as its recorded plan's <c>--max-num-seqs</c>. vLLM ports come from the
    /// kernel (<see cref="LoopbackPort"/>), not the <see cref="PortAllocator"/>, so there is nothing to reserve.
    /// </summary>
    public async Task<RunningBackend?> AdoptAsync(InstanceRecord record, BackendProcess process, ModelConfig model, BackendConfig settings, CancellationToken cancellationToken)
    {
        if (record.Port is not { } port)
        {
            return null;
        }

        var slots = LoadPlanJson.Read(record.PlanJson)?.Vllm?.MaxNumSeqs ?? DefaultMaxNumSeqs;
        var backend = new RunningBackend(record.Model, new Uri($"http://127.0.0.1:{port}/"), record.Model, process, slots);
        return await CheckHealthAsync(backend, cancellationToken) ? backend : null;
    }

    public async Task<bool> CheckHealthAsync(RunningBackend backend, CancellationToken cancellationToken)
    {
        if (backend.Process.Exited.IsCompleted)
        {
            return false;
        }

        try
        {
            using var response = await http.GetAsync(new Uri(backend.BaseAddress, "health"), cancellationToken);
            return response.IsSuccessStatusCode;
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

    /// <summary>The exact command line and environment for <paramref name="start"/> listening on <paramref name="port"/>.</summary>
    public BackendLaunch BuildLaunch(BackendStart start, int port)
    {
        var plan = start.Plan;
        var name = start.Model.Name;
        if (plan.Vllm is not { } limits || plan.GpuIndices.Count != limits.TensorParallelSize)
        {
            throw new BackendStartException($"{name}: the plan is not a vLLM placement ({plan.Summary().Split('\n')[0]})");
        }

        var arguments = new List<string>
        {
            "serve", start.Model.Source,
            "--host", "127.0.0.1",
            "--port", port.ToString(CultureInfo.InvariantCulture),
        };
        arguments.AddRange(limits.Arguments());
        arguments.AddRange(["--served-model-name", name]);
        if (start.Model.Cluster is { } cluster)
        {
            arguments.AddRange(["--pipeline-parallel-size", cluster.PipelineParallelSize.ToString(CultureInfo.InvariantCulture), "--distributed-executor-backend", "ray"]);
        }

        arguments.AddRange(start.Backend.ExtraArgs);
        arguments.AddRange(start.Model.ExtraArgs);
        var environment = new Dictionary<string, string>(start.Backend.Environment)
        {
            ["CUDA_VISIBLE_DEVICES"] = string.Join(",", plan.GpuIndices),
        };
        if (start.Model.Cluster is { } ray)
        {
            // Ray's own variable: vLLM's ray.init() joins the cluster it names instead of starting one of its own.
            environment["RAY_ADDRESS"] = ray.RayAddress;
        }

        return new BackendLaunch
        {
            UnitName = start.UnitName,
            Model = name,
            ExecPath = start.Backend.Executable,
            Arguments = arguments,
            Environment = environment,
            GpuIndices = plan.GpuIndices,
            ReadOnlyPaths = Path.IsPathRooted(start.Model.Source) ? [start.Model.Source] : [],
            StopTimeout = options.StopTimeout,
        };
    }
}
