namespace UnifiedLlm.Daemon.Backends;

/// <summary>
/// The pause between readiness probes of a loading backend: 1/200 of the time it has loaded so far, between 5 and
/// 50 ms. A load is seen within a few milliseconds of being ready and the wait adds at most 0.5% to a long one, while a
/// long load costs few probes: each refused or 503 probe costs ullmd 0.1–0.3 ms of CPU, taken from the backend that is
/// loading on a small machine.
/// </summary>
internal static class ReadinessPolling
{
    public static readonly TimeSpan Shortest = TimeSpan.FromMilliseconds(5);

    public static readonly TimeSpan Longest = TimeSpan.FromMilliseconds(50);

    public static TimeSpan After(TimeSpan loading) => TimeSpan.FromTicks(Math.Clamp(loading.Ticks / 200, Shortest.Ticks, Longest.Ticks));
}
