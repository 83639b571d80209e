using UnifiedLlm.Daemon.Models;
using UnifiedLlm.Daemon.Models.Sizing;

namespace UnifiedLlm.Daemon.Scheduling.Planning;

/// <summary>
/// Decides whether a model fits given per-GPU capacities, a per-request context and <c>--parallel</c>: the last
/// <c>ngl</c> layer slots (slot LayerCount is the output head) are handed to the GPUs in order, each taking as many consecutive slots as its capacity allows, and the rest of
/// the model must fit in host RAM. Costs come from <see cref="LlamaCppMemoryEstimator"/>'s terms, precomputed per slot so
/// a fit is linear in the layer count. A measured footprint that bounds the configuration replaces the formula's fixed
/// costs (compute buffers, CUDA overhead, host-side buffers).
/// </summary>
internal sealed class GpuLayerFitter(LlamaCppMemoryEstimator estimator, ModelProfile model, KvCacheType cacheType, IReadOnlyList<MeasuredFootprint> measurements)
{
    /// <summary>Per-GPU slot counts (summing to <paramref name="gpuLayers"/>) or null when it does not fit.</summary>
    public int[]? Fit(IReadOnlyList<ulong> capacities, ulong hostCapacity, ulong contextLength, int gpuLayers, int parallel)
    {
        var n = model.LayerCount;
        var full = gpuLayers > n;
        var batch = estimator.Settings.BatchSize;
        var total = LlamaCppMemoryEstimator.TotalContext(contextLength, parallel);
        var measured = MeasuredFootprint.Bounding(measurements, cacheType, gpuLayers, n, total);
        var fixedCost = measured?.GpuFixedBytes ?? (estimator.Settings.GpuOverheadBytes
            + (full ? ComputeGraphSize.FullOffload(model, total, batch) : ComputeGraphSize.PartialOffload(model, total, batch)));

        var counts = new int[capacities.Count];
        var slot = n + 1 - Math.Min(gpuLayers, n + 1);
        var remaining = gpuLayers;
        for (var g = 0; g < capacities.Count && remaining > 0; g++)
        {
            var used = fixedCost;
            while (remaining > 0)
            {
                var cost = SlotCost(slot, contextLength, parallel);
                if (used + cost > capacities[g])
                {
                    break;
                }

                used += cost;
                counts[g]++;
                slot++;
                remaining--;
            }
        }

        if (remaining > 0)
        {
            return null;
        }

        var estimate = estimator.Estimate(model, contextLength, cacheType, counts, parallel);
        var host = measured is null ? estimate.HostTotalBytes : estimate.HostWeightBytes + estimate.HostKvBytes + measured.HostFixedBytes;
        return host <= hostCapacity ? counts : null;
    }

    private ulong SlotCost(int slot, ulong contextLength, int parallel) => slot == model.LayerCount
        ? model.OutputBytes
        : model.LayerBytes[slot] + KvCacheSize.LayerBytes(model, slot, contextLength, cacheType, estimator.Settings.BatchSize, parallel);
}
