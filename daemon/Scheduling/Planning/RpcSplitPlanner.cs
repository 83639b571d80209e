using UnifiedLlm.Daemon.Models.Sizing;
using static UnifiedLlm.Daemon.Models.Sizing.ByteFormat;

namespace UnifiedLlm.Daemon.Scheduling.Planning;

/// <summary>
/// Places a llama.cpp model across this host and its RPC workers' devices when it does not fit here. The devices are
/// filled in order, each with as many consecutive layers as its capacity takes, the KV cache of a layer counted where the
/// layer lives: this host's usable GPUs first (most free first), then the remote devices with the most capacity first.
/// With local GPUs the most layers go to devices (the host keeps what is left); without, this host's CPU is the first
/// device: it keeps the most layers its RAM allows and the rest go to the workers. llama-server then gets
/// <c>--rpc</c>, <c>--device</c> and a <c>--tensor-split</c> of the planned layer counts. Remote devices need no CUDA
/// context of ours: their free memory is read with their worker's own context already made. Pure.
/// </summary>
internal static class RpcSplitPlanner
{
    /// <summary>The split, or null when even every device together does not hold the model.</summary>
    public static LoadPlan? Plan(LlamaCppMemoryEstimator estimator, PlacementContext context, LoadRequest request)
    {
        var local = context.UsableGpus
            .Where(d => request.AllowedGpus is null || request.AllowedGpus.Contains(d.Index))
            .Select(d => (Gpu: d, Capacity: LoadPlanner.Available(context, d, [])))
            .Where(g => g.Capacity > 0)
            .OrderByDescending(g => g.Capacity)
            .ToArray();
        var remote = context.Remote.Where(r => r.CapacityBytes > 0).OrderByDescending(r => r.CapacityBytes).ThenBy(r => r.Worker, StringComparer.Ordinal).ToArray();
        if (remote.Length == 0)
        {
            return null;
        }

        var overhead = estimator.Settings.GpuOverheadBytes;
        ulong[] capacities = [.. local.Select(g => g.Capacity), .. remote.Select(r => r.CapacityBytes + overhead)];
        var fitter = new GpuLayerFitter(estimator, request.Model, request.CacheType, []);
        var n = request.Model.LayerCount;
        var layerOrder = local.Length == 0 ? Enumerable.Range(1, n + 1) : Enumerable.Range(1, n + 1).Reverse();
        foreach (var (contextLength, parallel) in Settings(request))
        {
            foreach (var layers in layerOrder)
            {
                if (fitter.Fit(capacities, context.HostAvailableBytes, contextLength, layers, parallel) is { } counts && counts.Skip(local.Length).Any(c => c > 0))
                {
                    return ToPlan(estimator, request, local.Select(g => g.Gpu.Index).ToArray(), remote, counts, contextLength, parallel);
                }
            }
        }

        return null;
    }

    /// <summary>What a refusal adds when workers exist: how much they could take, and which are skipped and why.</summary>
    public static string Note(PlacementContext context)
    {
        var usable = context.Remote.Count == 0
            ? "no RPC worker is usable"
            : $"RPC workers' devices offer {string.Join(", ", context.Remote.Select(r => $"rpc:{r.Worker}/{r.Index} {Format(r.CapacityBytes)}"))}, still too little";
        return context.RemoteSkipped.Count == 0 ? usable : $"{usable}; skipped: {string.Join("; ", context.RemoteSkipped)}";
    }

    /// <summary>The requested slots and context first, then fewer slots, then the minimum context.</summary>
    private static IEnumerable<(ulong Context, int Parallel)> Settings(LoadRequest request)
    {
        for (var parallel = request.Parallel; parallel >= request.MinParallel; parallel--)
        {
            yield return (request.ContextLength, parallel);
        }

        if (request.MinContextLength < request.ContextLength)
        {
            yield return (request.MinContextLength, request.MinParallel);
        }
    }

    private static LoadPlan ToPlan(
        LlamaCppMemoryEstimator estimator, LoadRequest request, int[] local, RemoteDevice[] remote, int[] counts, ulong contextLength, int parallel)
    {
        var used = Enumerable.Range(0, counts.Length).Where(i => counts[i] > 0).ToArray();
        var usedCounts = used.Select(i => counts[i]).ToArray();
        var total = usedCounts.Sum();
        var estimate = estimator.Estimate(request.Model, contextLength, request.CacheType, usedCounts, parallel);
        var localUsed = used.Where(i => i < local.Length).ToArray();
        var shares = estimate.Gpus.Select((share, k) => used[k] < local.Length ? share : share with { OverheadBytes = 0 }).ToArray();
        var remoteShares = used.Select((device, k) => (device, k))
            .Where(x => x.device >= local.Length)
            .Select(x => new RemoteShare(remote[x.device - local.Length], counts[x.device], shares[x.k].TotalBytes))
            .ToArray();
        var hostLayers = request.Model.LayerCount + 1 - total;
        List<string> steps =
        [
            $"split over RPC workers: it does not fit on this host alone; {hostLayers} of {request.Model.LayerCount + 1} layers (incl. output) stay here, "
            + string.Join(", ", remoteShares.Select(s => $"{s.Layers} on {s.Label} ({s.Device.Address})")),
        ];
        if (parallel < request.Parallel)
        {
            steps.Add($"parallel {request.Parallel} → {parallel}: {request.Parallel} slots of n_ctx {contextLength} do not fit across the workers");
        }

        if (contextLength < request.ContextLength)
        {
            steps.Add($"context {request.ContextLength} → {contextLength}: the requested context does not fit across the workers, min_context {request.MinContextLength}");
        }

        return new LoadPlan(
            [.. localUsed.Select(i => local[i])],
            used.Length > 1 ? usedCounts.Select(c => (double)c / total).ToArray() : null,
            total,
            contextLength,
            estimate with { Gpus = shares },
            [])
        {
            Parallel = parallel,
            Steps = steps,
            Remote = remoteShares,
        };
    }
}
