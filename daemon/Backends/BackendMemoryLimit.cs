using UnifiedLlm.Daemon.Scheduling.Planning;

namespace UnifiedLlm.Daemon.Backends;

/// <summary>
/// The MemoryMax= a backend unit gets: a guard against a runaway process, not a second planner. Half again the planned
/// host memory plus 1 GiB leaves room for what the estimate does not count (the CUDA runtime's host buffers, the HTTP
/// server, the estimate's own error, measured within 10% in bench/RESULTS.md) while still stopping a leak.
/// </summary>
internal static class BackendMemoryLimit
{
    private const ulong Headroom = 1UL << 30;

    public static ulong For(LoadPlan plan) => plan.Estimate.HostTotalBytes + (plan.Estimate.HostTotalBytes / 2) + Headroom;
}
