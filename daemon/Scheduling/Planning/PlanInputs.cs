using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Gpu;
using UnifiedLlm.Daemon.Models;
using UnifiedLlm.Daemon.Models.Sizing;

namespace UnifiedLlm.Daemon.Scheduling.Planning;

/// <summary>
/// The one builder of the planner's inputs, for real loads and for <c>ullmctl plan</c> alike: the request from a
/// configured model, its GGUF profile and a load's overrides; the placement context from the live config, a machine
/// reading and the loaded instances. Pure: every input is passed in.
/// </summary>
internal static class PlanInputs
{
    /// <summary>The load request; <see cref="PlanInputException"/> when the overrides or the model cannot be planned.</summary>
    public static LoadRequest Request(ModelConfig model, ModelProfile profile, LoadOverrides overrides)
    {
        var context = overrides.Context ?? (model.Context > 0 ? (ulong)model.Context : profile.ContextLength);
        if (context == 0)
        {
            throw new PlanInputException($"model '{model.Name}': no context length (not configured, and the GGUF has none)");
        }

        if (overrides.Parallel is < 1)
        {
            throw new PlanInputException($"parallel: {overrides.Parallel} must be at least 1", isBadArgument: true);
        }

        if (overrides.Gpu is { } gpu && model.Gpus.Count > 0 && !model.Gpus.Contains(gpu))
        {
            throw new PlanInputException($"gpu: model '{model.Name}' may only use GPU(s) {string.Join(", ", model.Gpus)} (gpus in its config)", isBadArgument: true);
        }

        var parallel = overrides.Parallel ?? model.Parallel;
        return new LoadRequest(
            profile with { Name = model.Name },
            context,
            Math.Min(model.MinContextFloor, context),
            overrides.GpuLayers.IsAuto ? null : overrides.GpuLayers.Count ?? model.GpuLayers,
            overrides.Gpu is { } preferred ? [preferred] : [],
            (overrides.CacheType ?? model.CacheType) with { WithoutFlashAttention = model.FlashAttn == FlashAttention.Off },
            AllowTensorSplit: true)
        {
            Parallel = parallel,
            // An explicit slot count is what the admin asked for, not a ceiling to shrink from.
            MinParallel = overrides.Parallel ?? Math.Min(model.MinParallel, parallel),
            AllowedGpus = model.Gpus.Count == 0 ? null : model.Gpus.ToHashSet(),
            AllowRemote = model.Backend == BackendKind.LlamaCpp,
        };
    }

    /// <summary>The machine as the planner sees it, with the reserve and allowed GPUs of the config in force.</summary>
    public static PlacementContext Placement(UllmConfig config, GpuSnapshot snapshot, ulong hostAvailableBytes, IReadOnlyList<LoadedInstance> loaded) =>
        Placement(config, snapshot, hostAvailableBytes, loaded, []);

    /// <summary>
    /// The machine as the planner sees it: [rpc_head] host_memory_mib caps the host RAM; each answering worker no model
    /// of this head holds lends its devices, at most its memory_limit_mib each; the others are named with why.
    /// </summary>
    public static PlacementContext Placement(
        UllmConfig config, GpuSnapshot snapshot, ulong hostAvailableBytes, IReadOnlyList<LoadedInstance> loaded, IReadOnlyList<RpcWorkerReading> workers)
    {
        var host = config.RpcHead.HostMemoryBytes is { } cap ? Math.Min(cap, hostAvailableBytes) : hostAvailableBytes;
        var current = workers.Where(w => config.RpcWorkers.TryGetValue(w.Worker.Name, out var c) && c == w.Worker).ToArray();
        return new PlacementContext(
            snapshot,
            host,
            loaded,
            (ulong)Math.Max(0, config.Gpu.ReserveMib) * ByteFormat.MiB,
            AllowedGpus: config.Gpu.Allowed.Count == 0 ? null : config.Gpu.Allowed.ToHashSet())
        {
            Remote = [.. current.Where(w => w.Available).SelectMany(w => w.Devices.Select(d => new RemoteDevice(
                w.Worker.Name, w.Worker.Address, w.Devices.Count, d.Index, d.FreeBytes, w.Worker.MemoryLimitBytes is { } limit ? Math.Min(limit, d.FreeBytes) : d.FreeBytes)))],
            RemoteSkipped = [.. current.Where(w => !w.Available).Select(w => w.Describe())],
        };
    }
}
