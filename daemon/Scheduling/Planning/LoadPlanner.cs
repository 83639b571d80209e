using UnifiedLlm.Daemon.Gpu;
using UnifiedLlm.Daemon.Models.Sizing;
using static UnifiedLlm.Daemon.Models.Sizing.ByteFormat;

namespace UnifiedLlm.Daemon.Scheduling.Planning;

/// <summary>
/// Chooses where a llama.cpp model loads and with how many request slots. Without evictions first, then evicting one
/// idle instance more at a time, the stages are tried in order, first success wins:
/// <list type="number">
/// <item>all requested layers (default: every layer and the output) at the requested context, with the most slots in [min_parallel, parallel];</item>
/// <item>the same layers with min_parallel slots at the largest smaller context, in steps of 256, not below the minimum;</item>
/// <item>(automatic layers only) partial offload with min_parallel slots: the most layers on GPU at the requested context, then at the largest context that keeps at least one;</item>
/// </list>
/// and when no eviction makes room, (automatic layers only) CPU only. Each concession is named in the plan's
/// <see cref="LoadPlan.Steps"/>. Within a stage the best result (most slots, largest context, most layers) wins; among
/// equals, the earlier placement: single GPUs (preferred ones first, then most free after reserve) before a tensor split
/// over all usable GPUs. Eviction candidates are idle instances (never pinned, never busy) on the placement's GPUs,
/// lowest priority first, then least recently used; a placement may evict a prefix of that order.
/// </summary>
internal sealed class LoadPlanner(LlamaCppMemoryEstimator estimator)
{
    public const ulong ContextStep = 256;

    /// <summary>
    /// The local plan; when it is refused, or leaves layers of a host with GPUs on its CPU, and RPC workers are usable,
    /// a split across them (<see cref="RpcSplitPlanner"/>) instead, if one fits.
    /// </summary>
    public PlacementDecision Plan(PlacementContext context, LoadRequest request)
    {
        var local = PlanLocal(context, request);
        var shortHere = local is PlanRefusal || (local is LoadPlan plan && context.UsableGpus.Count > 0 && plan.GpuLayers <= request.Model.LayerCount);
        if (!request.AllowRemote || request.GpuLayers is not null || !shortHere || (context.Remote.Count == 0 && context.RemoteSkipped.Count == 0))
        {
            return local;
        }

        return RpcSplitPlanner.Plan(estimator, context, request) as PlacementDecision
            ?? (local is PlanRefusal refusal ? new PlanRefusal($"{refusal.Reason}; {RpcSplitPlanner.Note(context)}") : local);
    }

    private PlacementDecision PlanLocal(PlacementContext context, LoadRequest request)
    {
        var n = request.Model.LayerCount;
        if (request.MinContextLength == 0 || request.MinContextLength > request.ContextLength)
        {
            throw new ArgumentException($"minimum context {request.MinContextLength} must be between 1 and the requested {request.ContextLength}", nameof(request));
        }

        if (request.MinParallel < 1 || request.MinParallel > request.Parallel)
        {
            throw new ArgumentException($"min_parallel {request.MinParallel} must be between 1 and parallel {request.Parallel}", nameof(request));
        }

        if (request.GpuLayers is < 0)
        {
            throw new ArgumentException($"GPU layers {request.GpuLayers} must not be negative", nameof(request));
        }

        if (KvCacheSize.Incompatibility(request.Model, request.CacheType) is { } incompatible)
        {
            return new PlanRefusal($"{ModelName(request)}: {incompatible}");
        }

        var gpus = OrderGpus(context, request);
        if (gpus.Count == 0 || request.GpuLayers == 0)
        {
            return PlanCpu(context, request, gpus.Count == 0 && context.Snapshot.CpuModeReason is null && context.UsableGpus.Count > 0
                ? $"CPU only: none of the GPUs this model may use ({string.Join(", ", request.AllowedGpus ?? new HashSet<int>())}) is usable"
                : null);
        }

        var fitter = new GpuLayerFitter(estimator, request.Model, request.CacheType, request.Measurements);
        var layers = Math.Min(request.GpuLayers ?? (n + 1), n + 1);
        foreach (var group in Placements(context, request, gpus).GroupBy(o => o.Evictions.Count))
        {
            if (Stages(fitter, [.. group], request, layers) is { } found)
            {
                return ToPlan(request, found);
            }
        }

        if (request.GpuLayers is null && PlanCpu(context, request, "CPU only: not even one layer fits on a GPU") is LoadPlan cpu)
        {
            return cpu;
        }

        return Refuse(context, request, gpus, layers);
    }

    /// <summary>A placement and how it was reached.</summary>
    private sealed record Chosen(Option Option, int[] Counts, ulong Context, int Parallel, IReadOnlyList<string> Steps);

    /// <summary>The first stage that fits among options with the same number of evictions.</summary>
    private static Chosen? Stages(GpuLayerFitter fitter, List<Option> options, LoadRequest request, int layers)
    {
        var n = request.Model.LayerCount;
        var min = request.MinParallel;
        if (Best(options, o => MaxParallel(fitter, o, request, layers) is { } r ? (r.Parallel, 0L, r.Counts, request.ContextLength) : null) is { } full)
        {
            var slots = (int)full.Primary;
            return new Chosen(full.Option, full.Counts, request.ContextLength, slots, slots < request.Parallel
                ? [$"parallel {request.Parallel} → {slots}: {request.Parallel} slots of n_ctx {request.ContextLength} do not fit"]
                : []);
        }

        List<string> fewer = request.Parallel > min ? [$"parallel {request.Parallel} → {min}: no slot count fits at n_ctx {request.ContextLength}"] : [];
        if (Best(options, o => MaxContext(fitter, o, request, layers, min) is { } r ? ((long)r.Context, 0L, r.Counts, r.Context) : null) is { } shorter)
        {
            return new Chosen(shorter.Option, shorter.Counts, shorter.Context, min,
                [.. fewer, $"context {request.ContextLength} → {shorter.Context}: the longest that fits with {min} slot(s), min_context {request.MinContextLength}"]);
        }

        if (request.GpuLayers is not null)
        {
            return null;
        }

        if (Best(options, o => MaxLayers(fitter, o, request.ContextLength, n, min) is { } r ? (r.Layers, 0L, r.Counts, request.ContextLength) : null) is { } partial)
        {
            return new Chosen(partial.Option, partial.Counts, request.ContextLength, min, [.. fewer, PartialStep(partial.Primary, n)]);
        }

        if (Best(options, o => MaxContext(fitter, o, request, 1, min) is { } r && MaxLayers(fitter, o, r.Context, n, min) is { } l
                ? ((long)r.Context, l.Layers, l.Counts, r.Context)
                : null) is { } both)
        {
            return new Chosen(both.Option, both.Counts, both.Context, min,
                [.. fewer, $"context {request.ContextLength} → {both.Context}: the longest that keeps a layer on a GPU, min_context {request.MinContextLength}", PartialStep(both.Counts.Sum(), n)]);
        }

        return null;
    }

    private static string PartialStep(long layers, int layerCount) =>
        $"partial offload: {layers} of {layerCount + 1} layers (incl. output) on GPU, the rest on the CPU";

    /// <summary>One way to place the model: these GPUs (in layer order) after evicting these instances.</summary>
    private sealed record Option(IReadOnlyList<GpuDevice> Gpus, IReadOnlyList<LoadedInstance> Evictions, IReadOnlyList<ulong> Capacities, ulong HostCapacity);

    private static List<GpuDevice> OrderGpus(PlacementContext context, LoadRequest request)
    {
        var usable = context.UsableGpus.Where(d => request.AllowedGpus is null || request.AllowedGpus.Contains(d.Index)).ToArray();
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
    private static (Option Option, int[] Counts, ulong Context, long Primary)? Best(
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

        return best is { } b ? (b.Option, b.Counts, b.Context, b.Primary) : null;
    }

    private static int[]? Fits(GpuLayerFitter fitter, Option option, ulong contextLength, int layers, int parallel) =>
        fitter.Fit(option.Capacities, option.HostCapacity, contextLength, layers, parallel);

    /// <summary>The most slots in [min_parallel, parallel] at which these layers fit at the requested context.</summary>
    private static (long Parallel, int[] Counts)? MaxParallel(GpuLayerFitter fitter, Option option, LoadRequest request, int layers)
    {
        for (var parallel = request.Parallel; parallel >= request.MinParallel; parallel--)
        {
            if (Fits(fitter, option, request.ContextLength, layers, parallel) is { } counts)
            {
                return (parallel, counts);
            }
        }

        return null;
    }

    /// <summary>The largest context in [min, requested] (a multiple of 256 unless it is one of the bounds) at which these layers fit.</summary>
    private static (ulong Context, int[] Counts)? MaxContext(GpuLayerFitter fitter, Option option, LoadRequest request, int layers, int parallel)
    {
        if (Fits(fitter, option, request.ContextLength, layers, parallel) is { } atRequested)
        {
            return (request.ContextLength, atRequested);
        }

        if (Fits(fitter, option, request.MinContextLength, layers, parallel) is not { } atMin)
        {
            return null;
        }

        (ulong Context, int[] Counts) best = (request.MinContextLength, atMin);
        var low = (request.MinContextLength / ContextStep) + 1;
        var high = (request.ContextLength - 1) / ContextStep;
        while (low <= high)
        {
            var mid = low + ((high - low) / 2);
            if (Fits(fitter, option, mid * ContextStep, layers, parallel) is { } counts)
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
    private static (int Layers, int[] Counts)? MaxLayers(GpuLayerFitter fitter, Option option, ulong contextLength, int layerCount, int parallel)
    {
        for (var layers = layerCount; layers >= 1; layers--)
        {
            if (Fits(fitter, option, contextLength, layers, parallel) is { } counts)
            {
                return (layers, counts);
            }
        }

        return null;
    }

    private LoadPlan ToPlan(LoadRequest request, Chosen chosen)
    {
        var counts = chosen.Counts;
        var used = Enumerable.Range(0, counts.Length).Where(i => counts[i] > 0).ToArray();
        var usedCounts = used.Select(i => counts[i]).ToArray();
        var total = usedCounts.Sum();
        var estimate = estimator.Estimate(request.Model, chosen.Context, request.CacheType, usedCounts, chosen.Parallel);
        var split = used.Length > 1 ? usedCounts.Select(c => (double)c / total).ToArray() : null;
        var evictions = chosen.Option.Evictions;
        return new LoadPlan(used.Select(i => chosen.Option.Gpus[i].Index).ToArray(), split, total, chosen.Context, estimate, evictions)
        {
            Measured = MeasuredFootprint.Bounding(
                request.Measurements, request.CacheType, total, request.Model.LayerCount, LlamaCppMemoryEstimator.TotalContext(chosen.Context, chosen.Parallel)),
            Parallel = chosen.Parallel,
            Steps = [.. chosen.Steps, .. EvictionSteps(evictions)],
        };
    }

    private static IEnumerable<string> EvictionSteps(IReadOnlyList<LoadedInstance> evictions) =>
        evictions.Count == 0 ? [] : [$"evicting {string.Join(", ", evictions.Select(e => e.Name))}: it does not fit otherwise"];

    /// <summary>CPU only: the fewest evictions of instances holding host RAM with which a CPU load fits, slots before context.</summary>
    private PlacementDecision PlanCpu(PlacementContext context, LoadRequest request, string? why)
    {
        var candidates = EvictionOrder(context.Loaded.Where(i => i.HostBytes > 0));
        for (var k = 0; k <= candidates.Count; k++)
        {
            var capacity = context.HostAvailableBytes + candidates.Take(k).Aggregate(0UL, (sum, e) => sum + e.HostBytes);
            if (CpuStages(request, capacity) is not { } fit)
            {
                continue;
            }

            var evicted = candidates.Take(k).ToArray();
            List<string> steps = why is null ? [] : [why];
            if (fit.Parallel < request.Parallel)
            {
                steps.Add($"parallel {request.Parallel} → {fit.Parallel}: {request.Parallel} slots of n_ctx {request.ContextLength} do not fit in host RAM");
            }

            if (fit.Context < request.ContextLength)
            {
                steps.Add($"context {request.ContextLength} → {fit.Context}: the longest that fits in host RAM with {fit.Parallel} slot(s), min_context {request.MinContextLength}");
            }

            var estimate = estimator.EstimateCpuOnly(request.Model, fit.Context, request.CacheType, fit.Parallel);
            return new LoadPlan([], null, 0, fit.Context, estimate, evicted)
            {
                Measured = MeasuredFootprint.Bounding(
                    request.Measurements, request.CacheType, 0, request.Model.LayerCount, LlamaCppMemoryEstimator.TotalContext(fit.Context, fit.Parallel)),
                Parallel = fit.Parallel,
                Steps = [.. steps, .. EvictionSteps(evicted)],
            };
        }

        var need = CpuHostBytes(request, request.MinContextLength, request.MinParallel);
        var all = context.HostAvailableBytes + candidates.Aggregate(0UL, (sum, e) => sum + e.HostBytes);
        var mode = context.Snapshot.CpuModeReason is { } cpuMode ? $"CPU mode: {cpuMode}" : request.GpuLayers == 0 ? "0 GPU layers requested" : "CPU fallback";
        return new PlanRefusal(
            $"{ModelName(request)} needs {Format(need)} of host RAM ({mode}, {request.MinParallel} slot(s) × n_ctx {request.MinContextLength}), {Format(all)} available after evicting "
            + $"{Names(candidates)}{Protected(context.Loaded.Where(i => i.HostBytes > 0))}");
    }

    private (ulong Context, int Parallel)? CpuStages(LoadRequest request, ulong capacity)
    {
        for (var parallel = request.Parallel; parallel >= request.MinParallel; parallel--)
        {
            if (CpuHostBytes(request, request.ContextLength, parallel) <= capacity)
            {
                return (request.ContextLength, parallel);
            }
        }

        return MaxCpuContext(request, capacity) is { } context ? (context, request.MinParallel) : null;
    }

    private ulong CpuHostBytes(LoadRequest request, ulong contextLength, int parallel)
    {
        var estimate = estimator.EstimateCpuOnly(request.Model, contextLength, request.CacheType, parallel);
        var total = LlamaCppMemoryEstimator.TotalContext(contextLength, parallel);
        return MeasuredFootprint.Bounding(request.Measurements, request.CacheType, 0, request.Model.LayerCount, total) is { } measured
            ? estimate.HostWeightBytes + estimate.HostKvBytes + measured.HostFixedBytes
            : estimate.HostTotalBytes;
    }

    private ulong? MaxCpuContext(LoadRequest request, ulong capacity)
    {
        bool Fits(ulong ctx) => CpuHostBytes(request, ctx, request.MinParallel) <= capacity;
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
        var slots = request.MinParallel;
        var need = estimator.Share(model, ctx, request.CacheType, model.LayerCount + 1 - Math.Min(layers, model.LayerCount + 1), layers, layers > model.LayerCount, slots).TotalBytes;
        var best = gpus
            .Select(g => (Gpu: g, Evicted: EvictionOrder(context.Loaded.Where(i => i.BytesOn(g.Index) > 0))))
            .Select(x => (x.Gpu, x.Evicted, Available: Available(context, x.Gpu, x.Evicted)))
            .OrderByDescending(x => x.Available)
            .First();
        var layerText = layers > model.LayerCount ? $"all {model.LayerCount} layers + output" : $"{layers} layers";
        var reason = $"{ModelName(request)} needs {Format(need)} ({layerText}, {slots} slot(s) × n_ctx {ctx}), {Format(best.Available)} free on GPU{best.Gpu.Index} "
            + $"after its {Format(context.ReserveFor(best.Gpu.Index))} reserve and evicting {Names(best.Evicted)}"
            + Protected(context.Loaded.Where(i => i.BytesOn(best.Gpu.Index) > 0));
        if (request.GpuLayers is null)
        {
            var host = estimator.Estimate(model, ctx, request.CacheType, 1, slots).HostTotalBytes;
            var cpu = estimator.EstimateCpuOnly(model, ctx, request.CacheType, slots).HostTotalBytes;
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
