using UnifiedLlm.Daemon.Models.Sizing;

namespace UnifiedLlm.Daemon.Scheduling.Planning;

/// <summary>
/// Where and how to start the backend. <see cref="GpuIndices"/> is empty in CPU mode; <see cref="TensorSplit"/> holds
/// llama.cpp <c>--tensor-split</c> fractions (one per GPU index, summing to 1) when the model spans several GPUs, else null.
/// <see cref="Evictions"/> must be stopped, in order, before the load. <see cref="Measured"/> is the earlier real load whose
/// fixed costs the planner used instead of the formula's compute buffer and CUDA overhead, if any.
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

    /// <summary>
    /// For a generic model, which sized nothing: where its footprint came from (its declaration, or a measured load);
    /// the estimate then holds that footprint as one term per GPU and one for the host. Null for llama.cpp plans.
    /// </summary>
    public string? FootprintBasis { get; init; }

    public string Summary()
    {
        if (FootprintBasis is { } footprint)
        {
            var on = GpuIndices.Count == 0 ? "CPU" : string.Join("+", GpuIndices.Select(g => $"GPU{g}"));
            var gone = Evictions.Count == 0 ? "evicting nothing" : "evicting " + string.Join(", ", Evictions.Select(e => e.Name));
            var perGpu = Estimate.Gpus.Count == 0 ? "" : $", {ByteFormat.Format(Estimate.Gpus[0].TotalBytes)} on each GPU";
            return $"{on}, n_ctx {ContextLength}, {gone}, footprint {footprint}: host {ByteFormat.Format(Estimate.HostTotalBytes)}{perGpu}";
        }

        var where = GpuIndices.Count == 0 ? "CPU" : string.Join("+", GpuIndices.Select(g => $"GPU{g}"));
        var evicting = Evictions.Count == 0 ? "evicting nothing" : "evicting " + string.Join(", ", Evictions.Select(e => e.Name));
        var basis = Measured is null
            ? "fixed costs: formula (no measured load of this file yet)"
            : $"fixed costs: {Measured.Describe()}: {ByteFormat.Format(Measured.GpuFixedBytes)} per GPU, {ByteFormat.Format(Measured.HostFixedBytes)} host, replacing the formula's compute + overhead";
        return $"{where}, -ngl {GpuLayers}, n_ctx {ContextLength}, {evicting}\n{Estimate.Breakdown()}\n  {basis}";
    }
}
