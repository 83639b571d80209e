using UnifiedLlm.Daemon.Scheduling.Planning;
using UnifiedLlm.Daemon.Storage;

namespace UnifiedLlm.Daemon.Scheduling;

/// <summary>A snapshot of one instance for status and admin listings.</summary>
internal sealed record InstanceInfo(
    string Id,
    string Model,
    string UnitName,
    InstanceState State,
    IReadOnlyList<InstanceTransition> Transitions,
    LoadPlan? Plan,
    Uri? BaseAddress,
    int? MainPid,
    int Leases,
    DateTimeOffset LastUsed)
{
    /// <summary>The per-load overrides it was started with; empty for a load on demand.</summary>
    public LoadOverrides Overrides { get; init; } = LoadOverrides.None;
}
