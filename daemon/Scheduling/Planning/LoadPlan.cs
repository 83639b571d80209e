using UnifiedLlm.Daemon.Models.Sizing;

namespace UnifiedLlm.Daemon.Scheduling.Planning;

/// <summary>
/// Where and how to start the backend. <see cref="GpuIndices"/> is empty in CPU mode; <see cref="TensorSplit"/> holds
/// llama.cpp <c>--tensor-split</c> fractions (one per GPU index, summing to 1) when the model spans several GPUs, else null.
/// <see cref="Evictions"/> must be stopped, in order, before the load.
/// </summary>
internal sealed record LoadPlan(
    IReadOnlyList<int> GpuIndices,
    IReadOnlyList<double>? TensorSplit,
    int GpuLayers,
    ulong ContextLength,
    LlamaCppMemoryEstimate Estimate,
    IReadOnlyList<LoadedInstance> Evictions) : PlacementDecision
{
    public string Summary()
    {
        var where = GpuIndices.Count == 0 ? "CPU" : string.Join("+", GpuIndices.Select(g => $"GPU{g}"));
        var evicting = Evictions.Count == 0 ? "evicting nothing" : "evicting " + string.Join(", ", Evictions.Select(e => e.Name));
        return $"{where}, -ngl {GpuLayers}, n_ctx {ContextLength}, {evicting}\n{Estimate.Breakdown()}";
    }
}
