using UnifiedLlm.Daemon.Gpu;
using UnifiedLlm.Daemon.Models.Sizing;
using static UnifiedLlm.Daemon.Models.Sizing.ByteFormat;

namespace UnifiedLlm.Daemon.Scheduling.Planning;

/// <summary>
/// Chooses where a llama.cpp model loads. Stages, first success wins:
/// <list type="number">
/// <item>all requested layers (default: every layer and the output) at the requested context;</item>
/// <item>the same layers at the largest smaller context, in steps of 256, not below the minimum;</item>
/// <item>(automatic layers only) partial offload: the most layers on GPU at the requested context, then at the largest context that keeps at least one;</item>
/// <item>(automatic layers only) CPU only.</item>
/// </list>
/// Within a stage the best result (largest context, most layers) wins; among equals, fewest evictions, then the earlier
/// placement: single GPUs (preferred ones first, then most free after reserve) before a tensor split over all usable GPUs.
/// Eviction candidates are idle instances (never pinned, never busy) on the placement's GPUs, lowest priority first, then
/// least recently used; a placement may evict a prefix of that order.
/// </summary>
internal sealed class LoadPlanner(LlamaCppMemoryEstimator estimator)
{
    public const ulong ContextStep = 256;

    public PlacementDecision Plan(PlacementContext context, LoadRequest request)
    {
        var n = request.Model.LayerCount;
        if (request.MinContextLength == 0 || request.MinContextLength > request.ContextLength)
        {
            throw new ArgumentException($"minimum context {request.MinContextLength} must be between 1 and the requested {request.ContextLength}", nameof(request));
        }

        if (request.GpuLayers is < 0)
        {
            throw new ArgumentException($"GPU layers {request.GpuLayers} must not be negative", nameof(request));
        }

        if (!KvCacheSize.SupportedTypes.Contains(request.CacheType))
        {
            throw new ArgumentException($"{request.CacheType} is not a llama.cpp KV cache type", nameof(request));
        }

        var gpus = OrderGpus(context, request);
        if (gpus.Count == 0 || request.GpuLayers == 0)
        {
            return PlanCpu(context, request);
        }

        var fitter = new GpuLayerFitter(estimator, request.Model, request.CacheType, request.Measurements);
        var placements = Placements(context, request, gpus);
        var layers = Math.Min(request.GpuLayers ?? (n + 1), n + 1);

        var chosen = Best(placements, o => Fits(fitter, o, request.ContextLength, layers) is { } c ? (1L, 0L, c, request.ContextLength) : null)
            ?? Best(placements, o => MaxContext(fitter, o, request, layers) is { } r ? ((long)r.Context, 0L, r.Counts, r.Context) : null);
        if (chosen is null && request.GpuLayers is null)
        {
            chosen = Best(placements, o => MaxLayers(fitter, o, request.ContextLength, n) is { } r ? (r.Layers, 0L, r.Counts, request.ContextLength) : null)
                ?? Best(placements, o => MaxContext(fitter, o, request, 1) is { } r && MaxLayers(fitter, o, r.Context, n) is { } l
                    ? ((long)r.Context, l.Layers, l.Counts, r.Context)
                    : null);
        }

        if (chosen is { } found)
        {
            return ToPlan(request, found.Option, found.Counts, found.Context);
        }

        if (request.GpuLayers is null && PlanCpu(context, request) is LoadPlan cpu)
        {
            return cpu;
        }

        return Refuse(context, request, gpus, layers);
    }

    /// <summary>One way to place the model: these GPUs (in layer order) after evicting these instances.</summary>
    private sealed record Option(IReadOnlyList<GpuDevice> Gpus, IReadOnlyList<LoadedInstance> Evictions, IReadOnlyList<ulong> Capacities, ulong HostCapacity);

    private static List<GpuDevice> OrderGpus(PlacementContext context, LoadRequest request)
    {
        var usable = context.UsableGpus;
        var preferred = request.PreferredGpus.Select(i => usable.FirstOrDefault(d => d.Index == i)).OfType<GpuDevice>();
        var rest = usable.Where(d => !request.PreferredGpus.Contains(d.Index)).OrderByDescending(d => Available(context, d, []));
        return [.. preferred.Distinct(), .. rest];
    }

    /// <summary>Options in preference order, grouped by eviction count: all with 0 evictions first, then 1, ...</summary>
    private static List<Option> Placements(PlacementContext context, LoadRequest request, List<GpuDevice> gpus)
    {
        List<IReadOnlyList<GpuDevice>> layouts = [.. gpus.Select(g => (IReadOnlyList<GpuDevice>)[g])];
        if (request.AllowTensorSplit && gpus.Count > 1)
        {
            layouts.Add(gpus);
        }

        var options = new List<(int Evictions, int Order, Option Option)>();
        for (var order = 0; order < layouts.Count; order++)
        {
            var layout = layouts[order];
            var candidates = EvictionOrder(context.Loaded.Where(i => layout.Any(g => i.BytesOn(g.Index) > 0)));
            for (var k = 0; k <= candidates.Count; k++)
            {
                var evicted = candidates.Take(k).ToArray();
                var capacities = layout.Select(g => Available(context, g, evicted)).ToArray();
                var host = context.HostAvailableBytes + evicted.Aggregate(0UL, (sum, e) => sum + e.HostBytes);
                options.Add((k, order, new Option(layout, evicted, capacities, host)));
            }
        }

        return options.OrderBy(o => o.Evictions).ThenBy(o => o.Order).Select(o => o.Option).ToList();
    }

    /// <summary>Which instances go first: evictable ones only, lowest priority first, then least recently used.</summary>
    public static List<LoadedInstance> EvictionOrder(IEnumerable<LoadedInstance> instances) =>
        instances.Where(i => i.IsEvictable).OrderBy(i => i.Priority).ThenBy(i => i.LastUsed).ToList();

    /// <summary>Free memory after the reserve, plus what the evicted instances hold on this GPU.</summary>
    public static ulong Available(PlacementContext context, GpuDevice gpu, IReadOnlyList<LoadedInstance> evicted)
    {
        var free = gpu.FreeBytes + evicted.Aggregate(0UL, (sum, e) => sum + e.BytesOn(gpu.Index));
        var reserve = context.ReserveFor(gpu.Index);
        return free > reserve ? free - reserve : 0;
    }

    /// <summary>The option with the highest score (primary, secondary); ties go to the earliest option.</summary>
    private static (Option Option, int[] Counts, ulong Context)? Best(
        List<Option> options,
        Func<Option, (long Primary, long Secondary, int[] Counts, ulong Context)?> evaluate)
    {
        (Option Option, int[] Counts, ulong Context, long Primary, long Secondary)? best = null;
        foreach (var option in options)
        {
            if (evaluate(option) is not { } r)
            {
                continue;
            }

            if (best is null || r.Primary > best.Value.Primary || (r.Primary == best.Value.Primary && r.Secondary > best.Value.Secondary))
            {
                best = (option, r.Counts, r.Context, r.Primary, r.Secondary);
            }
        }

        return best is { } b ? (b.Option, b.Counts, b.Context) : null;
    }

    private static int[]? Fits(GpuLayerFitter fitter, Option option, ulong contextLength, int layers) =>
        fitter.Fit(option.Capacities, option.HostCapacity, contextLength, layers);

    /// <summary>The largest context in [min, requested] (a multiple of 256 unless it is one of the bounds) at which these layers fit.</summary>
    private static (ulong Context, int[] Counts)? MaxContext(GpuLayerFitter fitter, Option option, LoadRequest request, int layers)
    {
        if (Fits(fitter, option, request.ContextLength, layers) is { } atRequested)
        {
            return (request.ContextLength, atRequested);
        }

        if (Fits(fitter, option, request.MinContextLength, layers) is not { } atMin)
        {
            return null;
        }

        (ulong Context, int[] Counts) best = (request.MinContextLength, atMin);
        var low = (request.MinContextLength / ContextStep) + 1;
        var high = (request.ContextLength - 1) / ContextStep;
        while (low <= high)
        {
            var mid = low + ((high - low) / 2);
            if (Fits(fitter, option, mid * ContextStep, layers) is { } counts)
            {
                best = (mid * ContextStep, counts);
                low = mid + 1;
            }
            else
            {
                high = mid - 1;
            }
        }

        return best;
    }

    /// <summary>The most layers (at least one, fewer than all) that fit at this context.</summary>
    private static (int Layers, int[] Counts)? MaxLayers(GpuLayerFitter fitter, Option option, ulong contextLength, int layerCount)
    {
        for (var layers = layerCount; layers >= 1; layers--)
        {
            if (Fits(fitter, option, contextLength, layers) is { } counts)
            {
                return (layers, counts);
            }
        }

        return null;
    }

    private LoadPlan ToPlan(LoadRequest request, Option option, int[] counts, ulong contextLength)
    {
        var used = Enumerable.Range(0, counts.Length).Where(i => counts[i] > 0).ToArray();
        var usedCounts = used.Select(i => counts[i]).ToArray();
        var total = usedCounts.Sum();
        var estimate = estimator.Estimate(request.Model, contextLength, request.CacheType, usedCounts);
        var split = used.Length > 1 ? usedCounts.Select(c => (double)c / total).ToArray() : null;
        return new LoadPlan(used.Select(i => option.Gpus[i].Index).ToArray(), split, total, contextLength, estimate, option.Evictions)
        {
            Measured = MeasuredFootprint.Bounding(request.Measurements, request.CacheType, total, request.Model.LayerCount, contextLength),
        };
    }

    private PlacementDecision PlanCpu(PlacementContext context, LoadRequest request)
    {
        var candidates = EvictionOrder(context.Loaded.Where(i => i.HostBytes > 0));
        (ulong Context, int Evictions)? best = null;
        for (var k = 0; k <= candidates.Count; k++)
        {
            var capacity = context.HostAvailableBytes + candidates.Take(k).Aggregate(0UL, (sum, e) => sum + e.HostBytes);
            var ctx = MaxCpuContext(request, capacity);
            if (ctx is { } c && (best is null || c > best.Value.Context))
            {
                best = (c, k);
            }
        }

        if (best is { } b)
        {
            var estimate = estimator.EstimateCpuOnly(request.Model, b.Context, request.CacheType);
            return new LoadPlan([], null, 0, b.Context, estimate, candidates.Take(b.Evictions).ToArray())
            {
                Measured = MeasuredFootprint.Bounding(request.Measurements, request.CacheType, 0, request.Model.LayerCount, b.Context),
            };
        }

        var need = CpuHostBytes(request, request.MinContextLength);
        var all = context.HostAvailableBytes + candidates.Aggregate(0UL, (sum, e) => sum + e.HostBytes);
        var mode = context.Snapshot.CpuModeReason is { } why ? $"CPU mode: {why}" : request.GpuLayers == 0 ? "0 GPU layers requested" : "CPU fallback";
        return new PlanRefusal(
            $"{ModelName(request)} needs {Format(need)} of host RAM ({mode}, n_ctx {request.MinContextLength}), {Format(all)} available after evicting "
            + $"{Names(candidates)}{Protected(context.Loaded.Where(i => i.HostBytes > 0))}");
    }

    private ulong CpuHostBytes(LoadRequest request, ulong contextLength)
    {
        var estimate = estimator.EstimateCpuOnly(request.Model, contextLength, request.CacheType);
        return MeasuredFootprint.Bounding(request.Measurements, request.CacheType, 0, request.Model.LayerCount, contextLength) is { } measured
            ? estimate.HostWeightBytes + estimate.HostKvBytes + measured.HostFixedBytes
            : estimate.HostTotalBytes;
    }

    private ulong? MaxCpuContext(LoadRequest request, ulong capacity)
    {
        bool Fits(ulong ctx) => CpuHostBytes(request, ctx) <= capacity;
        if (Fits(request.ContextLength))
        {
            return request.ContextLength;
        }

        if (!Fits(request.MinContextLength))
        {
            return null;
        }

        var best = request.MinContextLength;
        var low = (request.MinContextLength / ContextStep) + 1;
        var high = (request.ContextLength - 1) / ContextStep;
        while (low <= high)
        {
            var mid = low + ((high - low) / 2);
            if (Fits(mid * ContextStep))
            {
                best = mid * ContextStep;
                low = mid + 1;
            }
            else
            {
                high = mid - 1;
            }
        }

        return best;
    }

    /// <summary>Names what a single GPU would need and the best any GPU offers after every possible eviction.</summary>
    private PlanRefusal Refuse(PlacementContext context, LoadRequest request, List<GpuDevice> gpus, int layers)
    {
        var model = request.Model;
        var ctx = request.MinContextLength;
        var need = estimator.Share(model, ctx, request.CacheType, model.LayerCount - Math.Min(layers, model.LayerCount), layers, layers > model.LayerCount).TotalBytes;
        var best = gpus
            .Select(g => (Gpu: g, Evicted: EvictionOrder(context.Loaded.Where(i => i.BytesOn(g.Index) > 0))))
            .Select(x => (x.Gpu, x.Evicted, Available: Available(context, x.Gpu, x.Evicted)))
            .OrderByDescending(x => x.Available)
            .First();
        var layerText = layers > model.LayerCount ? $"all {model.LayerCount} layers + output" : $"{layers} layers";
        var reason = $"{ModelName(request)} needs {Format(need)} ({layerText}, n_ctx {ctx}), {Format(best.Available)} free on GPU{best.Gpu.Index} "
            + $"after its {Format(context.ReserveFor(best.Gpu.Index))} reserve and evicting {Names(best.Evicted)}"
            + Protected(context.Loaded.Where(i => i.BytesOn(best.Gpu.Index) > 0));
        if (request.GpuLayers is null)
        {
            var host = estimator.Estimate(model, ctx, request.CacheType, 1).HostTotalBytes;
            var cpu = estimator.EstimateCpuOnly(model, ctx, request.CacheType).HostTotalBytes;
            reason += $"; partial offload needs {Format(host)} and CPU mode {Format(cpu)} of host RAM, {Format(context.HostAvailableBytes)} available";
        }

        return new PlanRefusal(reason);
    }

    private static string ModelName(LoadRequest request) => request.Model.Name ?? Path.GetFileName(request.Model.Path);

    private static string Names(List<LoadedInstance> evicted) =>
        evicted.Count == 0 ? "nothing" : string.Join(", ", evicted.Select(e => e.Name));

    private static string Protected(IEnumerable<LoadedInstance> instances)
    {
        var reasons = instances.Select(i => i.Protection).OfType<string>().ToArray();
        return reasons.Length == 0 ? string.Empty : ": " + string.Join(", ", reasons);
    }
}
