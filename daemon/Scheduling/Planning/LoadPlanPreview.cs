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
        var profile = scanned.Profile ?? throw new PlanInputException($"model '{model.Name}': cannot read {model.Source}: {scanned.Error}");
        var context = question.Context ?? (model.Context > 0 ? (ulong)model.Context : profile.ContextLength);
        if (context == 0)
        {
            throw new PlanInputException($"model '{model.Name}': no context length (not configured, and the GGUF has none)");
        }

        var current = config.Current;
        var snapshot = gpus.Current;
        if (question.Gpu is { } gpu && snapshot.CpuModeReason is null && snapshot.Devices.All(d => d.Index != gpu))
        {
            throw new PlanInputException($"gpu: there is no GPU {gpu} (GPUs: {string.Join(", ", snapshot.Devices.Select(d => d.Index))})");
        }

        var placement = new PlacementContext(
            snapshot,
            await HostMemory.AvailableBytesAsync(cancellationToken),
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

/// <summary>What to plan: a configured model, a context (null: configured, else the model's own), layers and a preferred GPU.</summary>
internal sealed record PlanQuestion(ModelConfig Model, ulong? Context, GpuLayersChoice GpuLayers, int? Gpu);

/// <summary>"auto" (<see cref="IsAuto"/>), a number (<see cref="Count"/>), or neither: the model's configured value.</summary>
internal readonly record struct GpuLayersChoice(bool IsAuto, int? Count)
{
    public static GpuLayersChoice Configured => default;

    /// <summary>Parses "", "auto" or a non-negative number; null when the text is none of those.</summary>
    public static GpuLayersChoice? Parse(string text) =>
        text.Length == 0 ? Configured
        : text == "auto" ? new GpuLayersChoice(true, null)
        : int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) ? new GpuLayersChoice(false, n)
        : null;
}

/// <summary>The question cannot be planned (wrong backend, unreadable model, no such GPU); the message says which.</summary>
internal sealed class PlanInputException(string message) : Exception(message);
