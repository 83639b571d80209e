using UnifiedLlm.Daemon.Models.Sizing;

namespace UnifiedLlm.Daemon.Scheduling.Planning;

/// <summary>
/// Where and how to start the backend. <see cref="GpuIndices"/> is empty in CPU mode; <see cref="TensorSplit"/> holds
/// llama.cpp <c>--tensor-split</c> fractions (one per GPU index, summing to 1) when the model spans several GPUs, else null.
/// <see cref="Evictions"/> must be stopped, in order, before the load. <see cref="Measured"/> is the earlier real load whose
/// fixed costs the planner used instead of the formula's compute buffer and CUDA overhead, if any.
/// <see cref="ContextLength"/> is one request slot's context and <see cref="Parallel"/> the slots (llama-server's
/// <c>--ctx-size</c> is their product). <see cref="Steps"/> name what the planner gave up to make the load fit, in order
/// (fewer slots, a shorter context, partial offload, CPU only, evictions); empty when it fits as asked.
/// </summary>
internal sealed record LoadPlan(
    IReadOnlyList<int> GpuIndices,
    IReadOnlyList<double>? TensorSplit,
    int GpuLayers,
    ulong ContextLength,
    LlamaCppMemoryEstimate Estimate,
    IReadOnlyList<LoadedInstance> Evictions) : PlacementDecision
{
    public MeasuredFootprint? Measured { get; init; }

    public int Parallel { get; init; } = 1;

    public IReadOnlyList<string> Steps { get; init; } = [];

    /// <summary>llama-server's <c>--ctx-size</c>: every slot's context.</summary>
    public ulong TotalContextLength => LlamaCppMemoryEstimator.TotalContext(ContextLength, Parallel);

    /// <summary>For a vLLM engine: its launch limits; each GPU share of <see cref="Estimate"/> is then the whole claim there.</summary>
    public VllmLaunch? Vllm { get; init; }

    /// <summary>
    /// For a generic model, which sized nothing: where its footprint came from (its declaration, or a measured load);
    /// the estimate then holds that footprint as one term per GPU and one for the host. Null for llama.cpp plans.
    /// </summary>
    public string? FootprintBasis { get; init; }

    /// <summary>
    /// The layers on RPC workers' devices, in layer order after the local GPUs' (<see cref="Estimate"/>'s GPU shares
    /// hold the local GPUs first, then these); empty when the model stays on this host.
    /// </summary>
    public IReadOnlyList<RemoteShare> Remote { get; init; } = [];

    public string Summary()
    {
        if (Vllm is { } vllm)
        {
            var gpus = string.Join("+", GpuIndices.Zip(Estimate.Gpus, (g, s) => $"GPU{g} ({ByteFormat.Format(s.TotalBytes)})"));
            var evicted = Evictions.Count == 0 ? "evicting nothing" : "evicting " + string.Join(", ", Evictions.Select(e => e.Name));
            return $"{gpus}, {evicted}: {vllm.Describe()}";
        }

        if (FootprintBasis is { } footprint)
        {
            var on = GpuIndices.Count == 0 ? "CPU" : string.Join("+", GpuIndices.Select(g => $"GPU{g}"));
            var gone = Evictions.Count == 0 ? "evicting nothing" : "evicting " + string.Join(", ", Evictions.Select(e => e.Name));
            var perGpu = Estimate.Gpus.Count == 0 ? "" : $", {ByteFormat.Format(Estimate.Gpus[0].TotalBytes)} on each GPU";
            return $"{on}, n_ctx {ContextLength}, {gone}, footprint {footprint}: host {ByteFormat.Format(Estimate.HostTotalBytes)}{perGpu}";
        }

        var where = GpuIndices.Count == 0 && Remote.Count == 0 ? "CPU" : string.Join("+", [.. GpuIndices.Select(g => $"GPU{g}"), .. Remote.Select(r => r.Label)]);
        var evicting = Evictions.Count == 0 ? "evicting nothing" : "evicting " + string.Join(", ", Evictions.Select(e => e.Name));
        var basis = Measured is null
            ? "fixed costs: formula (no measured load of this file yet)"
            : $"fixed costs: {Measured.Describe()}: {ByteFormat.Format(Measured.GpuFixedBytes)} per GPU, {ByteFormat.Format(Measured.HostFixedBytes)} host, replacing the formula's compute + overhead";
        var steps = Steps.Count == 0 ? string.Empty : "\n  " + string.Join("\n  ", Steps.Select(s => "step: " + s));
        return $"{where}, -ngl {GpuLayers}, --parallel {Parallel} × n_ctx {ContextLength}, {evicting}{steps}\n{Estimate.Breakdown()}\n  {basis}";
    }
}
