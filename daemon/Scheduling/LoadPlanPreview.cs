using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Gpu;
using UnifiedLlm.Daemon.Models;
using UnifiedLlm.Daemon.Scheduling.Planning;

namespace UnifiedLlm.Daemon.Scheduling;

/// <summary>
/// <c>ullmctl plan</c>: the scheduler's own plan for a load now (<see cref="Scheduler.Preview"/>, from the inputs a real
/// load uses, loaded instances and their evictions included), after checking what only a question can get wrong.
/// </summary>
internal sealed class LoadPlanPreview(Scheduler scheduler, GpuMonitor gpus)
{
    /// <summary>The plan (or refusal) with the profile it was made from and the instances rules would stop first (exclusive group, max_loaded).</summary>
    public (PlacementDecision Decision, ModelProfile Profile, IReadOnlyList<RuleVictim> RuleVictims) Plan(PlanQuestion question, CancellationToken cancellationToken)
    {
        var model = question.Model;
        var snapshot = gpus.Current;
        if (question.Overrides.Gpu is { } gpu && snapshot.CpuModeReason is null && snapshot.Devices.All(d => d.Index != gpu))
        {
            throw new PlanInputException($"gpu: there is no GPU {gpu} (GPUs: {string.Join(", ", snapshot.Devices.Select(d => d.Index))})", isBadArgument: true);
        }

        return scheduler.Preview(model, question.Overrides, cancellationToken);
    }
}
