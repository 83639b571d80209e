using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Gpu;
using UnifiedLlm.Daemon.Models;
using UnifiedLlm.Daemon.Models.Gguf;
using UnifiedLlm.Daemon.Models.Registry;
using UnifiedLlm.Daemon.Models.Sizing;

namespace UnifiedLlm.Daemon.Scheduling.Planning;

/// <summary>
/// Runs the planner without loading anything: the model's profile from the registry, the GPU monitor's latest snapshot,
/// the host's available RAM and the configured reserves and allowed GPUs.
/// </summary>
internal sealed class LoadPlanPreview(ModelRegistry registry, GpuMonitor gpus, ConfigHolder config, LlamaCppMemoryEstimator estimator)
{
    /// <summary>The smallest context the planner may shrink a load to (or the requested one when that is smaller).</summary>
    public const ulong MinimumContext = 2048;

    /// <summary>The plan (or refusal) with the profile it was made from.</summary>
    public async Task<(PlacementDecision Decision, ModelProfile Profile)> PlanAsync(PlanQuestion question, CancellationToken cancellationToken)
    {
        var model = question.Model;
        if (model.Backend != BackendKind.LlamaCpp)
        {
            throw new PlanInputException($"model '{model.Name}': planning covers llama.cpp models; {model.Backend} sizes its own memory");
        }

        var scanned = await registry.ProfileAsync(model.Source, cancellationToken);
        // The planner names the model in its messages; the admin knows it by its configured name, not general.name.
        var profile = (scanned.Profile ?? throw new PlanInputException($"model '{model.Name}': cannot read {model.Source}: {scanned.Error}")) with { Name = model.Name };
        var context = question.Context ?? (model.Context > 0 ? (ulong)model.Context : profile.ContextLength);
        if (context == 0)
        {
            throw new PlanInputException($"model '{model.Name}': no context length (not configured, and the GGUF has none)");
        }

        var current = config.Current;
        var snapshot = gpus.Current;
        if (question.Gpu is { } gpu && snapshot.CpuModeReason is null && snapshot.Devices.All(d => d.Index != gpu))
        {
            throw new PlanInputException($"gpu: there is no GPU {gpu} (GPUs: {string.Join(", ", snapshot.Devices.Select(d => d.Index))})", isBadArgument: true);
        }

        ulong hostAvailable;
        try
        {
            hostAvailable = await HostMemory.AvailableBytesAsync(cancellationToken);
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            throw new PlanInputException($"cannot read the host's available memory: {e.Message}");
        }

        var placement = new PlacementContext(
            snapshot,
            hostAvailable,
            // TODO(#5): the scheduler's loaded instances, so that plans show their evictions; none can be loaded without it.
            [],
            (ulong)current.Gpu.ReserveMib * ByteFormat.MiB,
            AllowedGpus: current.Gpu.Allowed.Count == 0 ? null : current.Gpu.Allowed.ToHashSet());
        var request = new LoadRequest(
            profile,
            context,
            Math.Min(MinimumContext, context),
            question.GpuLayers.IsAuto ? null : question.GpuLayers.Count ?? model.GpuLayers,
            question.Gpu is { } preferred ? [preferred] : [],
            GgmlType.F16,
            AllowTensorSplit: true);
        return (new LoadPlanner(estimator).Plan(placement, request), profile);
    }
}
