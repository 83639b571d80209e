using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Models.Gguf;
using UnifiedLlm.Daemon.Models.Sizing;
using static UnifiedLlm.Daemon.Models.Sizing.ByteFormat;

namespace UnifiedLlm.Daemon.Scheduling.Planning;

/// <summary>
/// Places a model whose memory ullmd cannot compute (a generic backend's): it needs a fixed amount of RAM and of memory
/// on each of a fixed number of GPUs, its declaration or, once a load of it was measured, that measurement. The GPUs
/// with the most memory available after their reserve are tried first; among placements, the one that evicts the
/// fewest instances wins, evicting in <see cref="LoadPlanner.EvictionOrder"/> (never pinned or busy instances).
/// </summary>
internal static class DeclaredFootprintPlanner
{
    public static PlacementDecision Plan(PlacementContext context, GenericLoad load)
    {
        var (host, perGpu) = (load.HostBytes, load.GpuBytesPerGpu);
        var count = load.Declared.GpuCount;
        if (count == 0)
        {
            return (PlacementDecision?)Place(context, load, [], host, 0) ?? Refuse(context, load, []);
        }

        var gpus = context.UsableGpus.OrderByDescending(g => Available(context, g.Index, [])).ToList();
        if (gpus.Count < count)
        {
            var why = context.Snapshot.CpuModeReason is { } reason ? $" (CPU mode: {reason})" : "";
            return new PlanRefusal($"{load.Name} needs {count} GPU(s) with {Format(perGpu)} each, and {gpus.Count} can be used{why}");
        }

        // One GPU: each in turn, most available first. Several: the ones with the most available.
        IEnumerable<IReadOnlyList<int>> layouts = count == 1 ? gpus.Select(g => (IReadOnlyList<int>)[g.Index]) : [[.. gpus.Take(count).Select(g => g.Index)]];
        LoadPlan? best = null;
        foreach (var layout in layouts)
        {
            if (Place(context, load, layout, host, perGpu) is { } plan && (best is null || plan.Evictions.Count < best.Evictions.Count))
            {
                best = plan;
            }
        }

        return (PlacementDecision?)best ?? Refuse(context, load, [.. gpus.Take(count).Select(g => g.Index)]);
    }

    /// <summary>The plan on these GPUs that evicts the shortest prefix of the eviction order, or null when none fits.</summary>
    private static LoadPlan? Place(PlacementContext context, GenericLoad load, IReadOnlyList<int> gpus, ulong host, ulong perGpu)
    {
        var candidates = LoadPlanner.EvictionOrder(context.Loaded.Where(i => i.HostBytes > 0 || gpus.Any(g => i.BytesOn(g) > 0)));
        for (var k = 0; k <= candidates.Count; k++)
        {
            var evicted = candidates.Take(k).ToArray();
            var hostAvailable = context.HostAvailableBytes + evicted.Aggregate(0UL, (sum, e) => sum + e.HostBytes);
            if (hostAvailable >= host && gpus.All(g => Available(context, g, evicted) >= perGpu))
            {
                var shares = gpus.Select(_ => new GpuMemoryShare(0, 0, false, perGpu, 0, 0, 0)).ToArray();
                var estimate = new LlamaCppMemoryEstimate(load.Name, load.ContextLength, GgmlType.F16, 0, 0, shares, host, 0, 0);
                return new LoadPlan(gpus, null, 0, load.ContextLength, estimate, evicted)
                {
                    Measured = load.Measured,
                    FootprintBasis = load.Basis,
                };
            }
        }

        return null;
    }

    private static ulong Available(PlacementContext context, int gpu, IReadOnlyList<LoadedInstance> evicted)
    {
        var device = context.Snapshot.Devices.First(d => d.Index == gpu);
        var free = device.FreeBytes + evicted.Aggregate(0UL, (sum, e) => sum + e.BytesOn(gpu));
        var reserve = context.ReserveFor(gpu);
        return free > reserve ? free - reserve : 0;
    }

    private static PlanRefusal Refuse(PlacementContext context, GenericLoad load, IReadOnlyList<int> gpus)
    {
        var everything = LoadPlanner.EvictionOrder(context.Loaded);
        var hostAvailable = context.HostAvailableBytes + everything.Aggregate(0UL, (sum, e) => sum + e.HostBytes);
        var text = $"{load.Name} needs {Format(load.HostBytes)} of RAM ({Format(hostAvailable)} available after evicting every evictable instance)";
        foreach (var gpu in gpus)
        {
            text += $"; {Format(load.GpuBytesPerGpu)} on GPU{gpu} ({Format(Available(context, gpu, everything))} available after its {Format(context.ReserveFor(gpu))} reserve and every eviction)";
        }

        var protectedBy = context.Loaded.Select(i => i.Protection).OfType<string>().ToArray();
        return new PlanRefusal($"{text}; footprint {load.Basis}{(protectedBy.Length == 0 ? "" : ": " + string.Join(", ", protectedBy))}");
    }
}

/// <summary>
/// A generic model to place: its declaration, and the measurement of an earlier load of the same launch that replaces it
/// (<see cref="Measured"/>, null until one was taken).
/// </summary>
internal sealed record GenericLoad(string Name, ulong ContextLength, DeclaredFootprint Declared, MeasuredFootprint? Measured)
{
    public ulong HostBytes => Measured?.HostFixedBytes ?? Declared.HostBytes;

    public ulong GpuBytesPerGpu => Measured?.GpuFixedBytes ?? Declared.GpuBytesPerGpu;

    public string Basis => Measured is { } m
        ? $"measured {m.MeasuredAt:yyyy-MM-dd HH:mm:ss} UTC (declared: host {Format(Declared.HostBytes)}, {Format(Declared.GpuBytesPerGpu)} per GPU)"
        : "declared (memory_mib, gpu_memory_mib; not measured yet)";
}
