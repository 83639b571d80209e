using System.Globalization;

namespace UnifiedLlm.Daemon.Scheduling.Policy;

/// <summary>What becomes of an instance chosen to stop before a load, as its stop is to begin.</summary>
internal enum EvictionStep
{
    /// <summary>Ready: it begins to drain and stop.</summary>
    Stop,

    /// <summary>Already stopping: the load waits for that stop.</summary>
    AwaitStop,

    /// <summary>No longer its model's instance, or failed: nothing to stop or wait for.</summary>
    Skip,
}

/// <summary>
/// The instances a load stops before it starts (<see cref="RuleEvictions"/>, the planner's evictions): which serve what
/// comes for them first, and which begin to stop.
/// </summary>
internal static class SwapVictims
{
    /// <summary>
    /// The event saying that <paramref name="victim"/>, ready with <paramref name="leases"/>, serves them before it is
    /// swapped out for <paramref name="model"/> for at most <paramref name="limit"/>; null when it does not wait (idle,
    /// not ready, or a limit of 0).
    /// </summary>
    public static string? ServesFirst(string victim, bool ready, int leases, string model, TimeSpan limit) =>
        limit > TimeSpan.Zero && ready && leases > 0
            ? $"{victim}: serving {leases} request(s) before it is swapped out for {model} (at most {limit.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s, [server] max_swap_wait_seconds)"
            : null;

    /// <summary>The eviction of an instance that is still (<paramref name="current"/>) or no longer its model's, ready, stopping, or neither.</summary>
    public static EvictionStep Evict(bool current, bool ready, bool stopping) =>
        !current ? EvictionStep.Skip
        : ready ? EvictionStep.Stop
        : stopping ? EvictionStep.AwaitStop
        : EvictionStep.Skip;
}
