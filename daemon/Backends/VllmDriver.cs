using System.Globalization;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Gpu;
using UnifiedLlm.Daemon.Models.Sizing;
using UnifiedLlm.Daemon.Storage;
using UnifiedLlm.Daemon.Supervision;

namespace UnifiedLlm.Daemon.Backends;

/// <summary>
/// One <c>vllm serve</c> per model, started through the supervisor. vLLM sizes itself by a fraction of each GPU's total
/// memory, so the plan's per-GPU budget is turned into <c>--gpu-memory-utilization</c> against the GPU's total from
/// the latest NVML reading; <c>--max-model-len</c> is the plan's context.
/// </summary>
internal sealed class VllmDriver(
    IBackendSupervisor supervisor,
    VllmDriverOptions options,
    Func<GpuSnapshot> gpus,
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
    /// Takes over a <c>vllm serve</c> on its recorded port once GET /health answers 200 there. vLLM ports come from the
    /// kernel (<see cref="LoopbackPort"/>), not the <see cref="PortAllocator"/>, so there is nothing to reserve.
    /// </summary>
    public async Task<RunningBackend?> AdoptAsync(InstanceRecord record, BackendProcess process, CancellationToken cancellationToken)
    {
        if (record.Port is not { } port)
        {
            return null;
        }

        var backend = new RunningBackend(record.Model, new Uri($"http://127.0.0.1:{port}/"), record.Model, process, DefaultMaxNumSeqs);
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
        if (plan.GpuIndices.Count == 0)
        {
            throw new BackendStartException($"{name}: vLLM needs a GPU, but the plan places it on the CPU");
        }

        var utilization = Utilization(start);
        var arguments = new List<string>
        {
            "serve", start.Model.Source,
            "--host", "127.0.0.1",
            "--port", port.ToString(CultureInfo.InvariantCulture),
            "--gpu-memory-utilization", utilization.ToString("0.00", CultureInfo.InvariantCulture),
            "--max-model-len", plan.ContextLength.ToString(CultureInfo.InvariantCulture),
            "--served-model-name", name,
        };
        if (plan.GpuIndices.Count > 1)
        {
            arguments.AddRange(["--tensor-parallel-size", plan.GpuIndices.Count.ToString(CultureInfo.InvariantCulture)]);
        }

        arguments.AddRange(start.Backend.ExtraArgs);
        arguments.AddRange(start.Model.ExtraArgs);
        var environment = new Dictionary<string, string>(start.Backend.Environment)
        {
            ["CUDA_VISIBLE_DEVICES"] = string.Join(",", plan.GpuIndices),
        };
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

    /// <summary>The largest per-GPU share of the plan over the smallest assigned GPU: vLLM claims the same fraction on each.</summary>
    private double Utilization(BackendStart start)
    {
        var name = start.Model.Name;
        var devices = gpus().Devices;
        var totals = start.Plan.GpuIndices.Select(index =>
            devices.FirstOrDefault(d => d.Index == index)?.TotalBytes
            ?? throw new BackendStartException($"{name}: the plan names GPU {index}, which the latest GPU reading does not list")).ToList();
        var budget = start.Plan.Estimate.Gpus.Count == 0 ? 0 : start.Plan.Estimate.Gpus.Max(g => g.TotalBytes);
        var total = totals.Min();
        var utilization = VllmSizing.GpuMemoryUtilization(budget, total);
        if (utilization <= 0)
        {
            throw new BackendStartException(
                $"{name}: the plan's GPU budget {ByteFormat.Format(budget)} is under 1% of the GPU's {ByteFormat.Format(total)}, too little for vLLM");
        }

        return utilization;
    }
}
