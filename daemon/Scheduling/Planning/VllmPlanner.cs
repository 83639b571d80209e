using System.Globalization;
using UnifiedLlm.Daemon.Gpu;
using UnifiedLlm.Daemon.Models.Gguf;
using UnifiedLlm.Daemon.Models.Sizing;
using static UnifiedLlm.Daemon.Models.Sizing.ByteFormat;

namespace UnifiedLlm.Daemon.Scheduling.Planning;

/// <summary>
/// Chooses where a vLLM engine runs and the limits it starts with. vLLM pre-allocates <c>--gpu-memory-utilization</c>
/// × the TOTAL memory of every GPU it uses (the same fraction on each) and refuses to start when a GPU has less than that
/// free, whatever else runs there. So a placement fits only when that claim, on every one of its GPUs, is at most what
/// the GPU has free after its reserve and the evictions: that is the rule for sharing a GPU with other backends, and
/// the reason names the GPU where it fails.
/// <para>
/// Placements: one GPU (most available first), then tensor-parallel groups of 2, 4, 8… of the most available GPUs,
/// where vLLM accepts the size for the model's heads. Limits, first that fits wins: the requested <c>max_num_seqs</c>
/// and <c>max_model_len</c>; fewer sequences, down to 1; a shorter <c>max_model_len</c> (in steps of 256), down to the
/// minimum; only then evictions (idle instances on the placement's GPUs, lowest priority, then least recently used).
/// </para>
/// </summary>
internal static class VllmPlanner
{
    public const ulong LengthStep = 256;

    public static PlacementDecision Plan(PlacementContext context, VllmRequest request)
    {
        if (request.MinModelLen == 0 || request.MinModelLen > request.MaxModelLen || request.MaxNumSeqs < 1)
        {
            throw new ArgumentException($"max_model_len {request.MinModelLen}..{request.MaxModelLen} and max_num_seqs {request.MaxNumSeqs} are not a valid request", nameof(request));
        }

        if (request.PipelineStages > request.Model.LayerCount)
        {
            return new PlanRefusal($"{request.Name}: pipeline_parallel_size {request.PipelineStages} is more stages than the model's {request.Model.LayerCount} layers; vLLM needs at least one layer per stage");
        }

        var gpus = context.UsableGpus
            .Where(g => request.AllowedGpus is null || request.AllowedGpus.Contains(g.Index))
            .OrderByDescending(g => LoadPlanner.Available(context, g, []))
            .ToList();
        if (gpus.Count == 0)
        {
            var why = context.Snapshot.CpuModeReason is { } reason
                ? $" (CPU mode: {reason})"
                : request.AllowedGpus is null
                    ? " (none is allowed by [gpu] allowed)"
                    : $" (none of the GPUs this model may use ({string.Join(", ", request.AllowedGpus.Order())}) is usable)";
            return new PlanRefusal($"{request.Name}: vLLM needs a GPU and there is none to use{why}");
        }

        var sizes = new List<int>();
        var problems = new List<string>();
        for (var tp = 1; tp <= gpus.Count; tp *= 2)
        {
            if (VllmMemory.TensorParallelProblem(request.Model, tp) is { } problem)
            {
                problems.Add($"tensor parallel {tp}: {problem}");
            }
            else
            {
                sizes.Add(tp);
            }
        }

        if (sizes.Count == 0)
        {
            return new PlanRefusal($"{request.Name}: no tensor-parallel size vLLM accepts fits the {gpus.Count} usable GPU(s): {string.Join("; ", problems)}");
        }

        var options = Options(context, gpus, sizes);
        foreach (var group in options.GroupBy(o => o.Evictions.Count).OrderBy(g => g.Key))
        {
            foreach (var limits in Limits(request))
            {
                if (group.FirstOrDefault(o => Fit(request, o, limits.Seqs, limits.Length) is not null) is { } option)
                {
                    return ToPlan(request, option, limits.Seqs, MaxLength(request, option, limits));
                }
            }
        }

        return Refuse(context, request, options);
    }

    /// <summary>One way to place the engine: these GPUs after evicting these instances, and what each then has available.</summary>
    private sealed record Option(IReadOnlyList<GpuDevice> Gpus, IReadOnlyList<LoadedInstance> Evictions, IReadOnlyList<ulong> Available);

    private static List<Option> Options(PlacementContext context, List<GpuDevice> gpus, List<int> sizes)
    {
        var layouts = new List<IReadOnlyList<GpuDevice>>();
        foreach (var tp in sizes)
        {
            if (tp == 1)
            {
                layouts.AddRange(gpus.Select(g => (IReadOnlyList<GpuDevice>)[g]));
            }
            else
            {
                layouts.Add(gpus.Take(tp).OrderBy(g => g.Index).ToArray());
            }
        }

        var options = new List<(int Order, Option Option)>();
        for (var order = 0; order < layouts.Count; order++)
        {
            var layout = layouts[order];
            var candidates = LoadPlanner.EvictionOrder(context.Loaded.Where(i => layout.Any(g => i.BytesOn(g.Index) > 0)));
            for (var k = 0; k <= candidates.Count; k++)
            {
                var evicted = candidates.Take(k).ToArray();
                options.Add((order, new Option(layout, evicted, [.. layout.Select(g => LoadPlanner.Available(context, g, evicted))])));
            }
        }

        return [.. options.OrderBy(o => o.Option.Evictions.Count).ThenBy(o => o.Order).Select(o => o.Option)];
    }

    /// <summary>Limits in the order they are tried: as asked; fewer sequences; then one sequence at the minimum length and above.</summary>
    private static IEnumerable<(int Seqs, ulong Length)> Limits(VllmRequest request)
    {
        for (var seqs = request.MaxNumSeqs; seqs >= 1; seqs--)
        {
            yield return (seqs, request.MaxModelLen);
        }

        if (request.MinModelLen < request.MaxModelLen)
        {
            yield return (1, request.MinModelLen);
        }
    }

    /// <summary>The requested length, or at the context stage the longest (a multiple of 256, at least the minimum) that fits.</summary>
    private static ulong MaxLength(VllmRequest request, Option option, (int Seqs, ulong Length) limits)
    {
        if (limits.Length == request.MaxModelLen)
        {
            return limits.Length;
        }

        var best = request.MinModelLen;
        var low = (request.MinModelLen / LengthStep) + 1;
        var high = (request.MaxModelLen - 1) / LengthStep;
        while (low <= high)
        {
            var mid = low + ((high - low) / 2);
            if (Fit(request, option, limits.Seqs, mid * LengthStep) is not null)
            {
                best = mid * LengthStep;
                low = mid + 1;
            }
            else
            {
                high = mid - 1;
            }
        }

        return best;
    }

    /// <summary>The utilization at which the engine fits this option, or null when its claim exceeds a GPU's available memory.</summary>
    private static double? Fit(VllmRequest request, Option option, int seqs, ulong length)
    {
        var need = VllmMemory.Need(request.Model, option.Gpus.Count, length, seqs, request.KvCacheDtype, request.EnforceEager, request.PipelineStages).TotalBytes;
        var utilization = VllmMemory.Utilization(need, option.Gpus.Min(g => g.TotalBytes));
        if (utilization > 1)
        {
            return null;
        }

        for (var i = 0; i < option.Gpus.Count; i++)
        {
            if (VllmMemory.Claim(utilization, option.Gpus[i].TotalBytes) > option.Available[i])
            {
                return null;
            }
        }

        return utilization;
    }

    private static LoadPlan ToPlan(VllmRequest request, Option option, int seqs, ulong length)
    {
        var steps = string.Join(" and ", new[]
        {
            seqs < request.MaxNumSeqs ? $"max_num_seqs lowered from {request.MaxNumSeqs} to {seqs}" : null,
            length < request.MaxModelLen ? $"max_model_len shortened from {request.MaxModelLen} to {length}" : null,
        }.OfType<string>());
        if (steps.Length > 0)
        {
            steps += " to fit";
        }

        var tp = option.Gpus.Count;
        var need = VllmMemory.Need(request.Model, tp, length, seqs, request.KvCacheDtype, request.EnforceEager, request.PipelineStages);
        var utilization = Fit(request, option, seqs, length)!.Value;
        var layers = request.PipelineStages == 1 ? request.Model.LayerCount : VllmMemory.StageLayers(request.Model.LayerCount, request.PipelineStages)[0];

        // vLLM gives all of its claim that weights, activations and graphs leave to KV blocks: that is what each GPU holds.
        var shares = option.Gpus.Select(g =>
        {
            var claim = VllmMemory.Claim(utilization, g.TotalBytes);
            var kv = claim - need.WeightBytes - need.ActivationBytes - need.CudaGraphBytes;
            return new GpuMemoryShare(0, layers, true, need.WeightBytes, kv, need.ActivationBytes, need.CudaGraphBytes);
        }).ToArray();
        var cacheType = VllmMemory.KvElementBytes(request.Model, VllmKvCacheDtype.Auto) == 4 ? GgmlType.F32 : GgmlType.F16;
        var estimate = new LlamaCppMemoryEstimate(request.Name, length, cacheType, layers + 1, layers, shares, 0, 0, 0);
        return new LoadPlan([.. option.Gpus.Select(g => g.Index)], null, layers + 1, length, estimate, option.Evictions)
        {
            Vllm = new VllmLaunch(utilization, length, seqs, tp, request.KvCacheDtype, need, steps)
            {
                Stage = request.PipelineStages == 1 ? null : new VllmStage(request.PipelineStages, layers, request.Model.LayerCount),
            },
        };
    }

    /// <summary>Why nothing fits: at the minimum limits, each placement's need against its tightest GPU after every eviction.</summary>
    private static PlanRefusal Refuse(PlacementContext context, VllmRequest request, List<Option> options)
    {
        var reasons = options
            .GroupBy(o => string.Join("+", o.Gpus.Select(g => g.Index)))
            .Select(g => g.MaxBy(o => o.Evictions.Count)!)
            .Select(o =>
            {
                var need = VllmMemory.Need(request.Model, o.Gpus.Count, request.MinModelLen, 1, request.KvCacheDtype, request.EnforceEager, request.PipelineStages);
                var utilization = VllmMemory.Utilization(need.TotalBytes, o.Gpus.Min(g => g.TotalBytes));
                var worst = Enumerable.Range(0, o.Gpus.Count)
                    .OrderByDescending(i => (double)VllmMemory.Claim(Math.Min(utilization, 1), o.Gpus[i].TotalBytes) - o.Available[i])
                    .First();
                var gpu = o.Gpus[worst];
                var claim = utilization > 1
                    ? $"more than all {Format(gpu.TotalBytes)} of GPU{gpu.Index}"
                    : $"{utilization.ToString("0.00", CultureInfo.InvariantCulture)} × {Format(gpu.TotalBytes)} = {Format(VllmMemory.Claim(utilization, gpu.TotalBytes))} of GPU{gpu.Index}";
                var evicted = o.Evictions.Count == 0 ? "nothing" : string.Join(", ", o.Evictions.Select(e => e.Name));
                var protectedBy = context.Loaded.Where(i => o.Gpus.Any(g => i.BytesOn(g.Index) > 0)).Select(i => i.Protection).OfType<string>().ToArray();
                return $"on {string.Join("+", o.Gpus.Select(g => $"GPU{g.Index}"))} it needs {Format(need.TotalBytes)} per GPU ({need.Describe()}), "
                    + $"so vLLM would claim {claim}, which has {Format(o.Available[worst])} free after its {Format(context.ReserveFor(gpu.Index))} reserve and evicting {evicted}"
                    + (protectedBy.Length == 0 ? "" : $" ({string.Join(", ", protectedBy)})");
            });
        return new PlanRefusal(
            $"{request.Name} does not fit even at max_model_len {request.MinModelLen} and max_num_seqs 1: {string.Join("; ", reasons)}");
    }
}
