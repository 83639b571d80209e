namespace UnifiedLlm.Daemon.Backends;

/// <summary>
/// The pause between readiness probes of a loading backend: 1/200 of the time it has loaded so far, between 1 and
/// 50 ms. A short load is seen within about a millisecond of being ready, as by a client that polls every millisecond,
/// and the wait adds at most 0.5% to a long one, while a long load costs few probes: every millisecond for its first
/// 200 ms, 20 a second from 10 s on. Against a floor of 5 ms that is about 320 probes more per load, all in its first
/// second; a probe through a kept-open connection costs well under a millisecond of CPU.
/// </summary>
internal static class ReadinessPolling
{
    public static readonly TimeSpan Shortest = TimeSpan.FromMilliseconds(1);

    public static readonly TimeSpan Longest = TimeSpan.FromMilliseconds(50);

    public static TimeSpan After(TimeSpan loading) => TimeSpan.FromTicks(Math.Clamp(loading.Ticks / 200, Shortest.Ticks, Longest.Ticks));
}
