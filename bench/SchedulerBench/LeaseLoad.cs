using System.Diagnostics;
using System.Globalization;
using System.Text;
using UnifiedLlm.Daemon.Scheduling;

namespace UnifiedLlm.Bench.SchedulerBench;

/// <summary>
/// Requesters that each take a lease on a ready instance and give it back, in a loop, for a fixed time; every
/// acquire+release pair is timed on its own.
/// </summary>
internal static class LeaseLoad
{
    public static async Task<Step> RunAsync(Scheduler scheduler, string model, int requesters, TimeSpan duration, CancellationToken cancellationToken)
    {
        var until = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var started = Stopwatch.GetTimestamp();
        var samples = await Task.WhenAll(Enumerable.Range(0, requesters).Select(_ => Task.Run(() => LoopAsync(scheduler, model, until, cancellationToken), cancellationToken)));
        var elapsed = Stopwatch.GetElapsedTime(started);
        var all = samples.SelectMany(s => s).ToArray();
        Array.Sort(all);
        double Micro(long ticks) => ticks * 1_000_000.0 / Stopwatch.Frequency;
        return new Step(requesters, all.Length / elapsed.TotalSeconds, Micro(Percentile(all, 0.50)), Micro(Percentile(all, 0.99)), Micro(all[^1]));
    }

    public static string Section(string label, string commit, int seconds, int rounds, IReadOnlyList<Step> steps, string loadBefore, string loadAfter)
    {
        var cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown CPU";
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"## Scheduler alone: lease acquire+release on a ready instance, {label} the rebuild (issue #20)\n\n");
        text.Append(CultureInfo.InvariantCulture, $"`bash bench/scheduler.sh {label}` at commit {commit}, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; {Environment.ProcessorCount} cores of {cpu}, ");
        text.Append(CultureInfo.InvariantCulture, $"shared with other builds and tests (load average {loadBefore} before, {loadAfter} after). ");
        text.Append("One real llama-server (tiny model) is loaded once through the real scheduler, driver, process supervisor and SQLite store; ");
        text.Append(CultureInfo.InvariantCulture, $"then each requester takes a lease and gives it back in a loop. A lease on a ready instance is granted without yielding, so the requesters share the thread pool's threads on {Environment.ProcessorCount} cores, and max is the preemption of a thread on a machine this loaded. {seconds} s per round, median of {rounds} rounds (by throughput), after an untimed second.\n\n");
        text.Append("| requesters | acquire+release /s | p50 µs | p99 µs | max µs |\n|---:|---:|---:|---:|---:|\n");
        foreach (var s in steps)
        {
            text.Append(CultureInfo.InvariantCulture, $"| {s.Requesters} | {s.PerSecond:F0} | {s.P50Microseconds:F1} | {s.P99Microseconds:F1} | {s.MaxMicroseconds:F0} |\n");
        }

        return text.ToString();
    }

    private static async Task<List<long>> LoopAsync(Scheduler scheduler, string model, long until, CancellationToken cancellationToken)
    {
        var samples = new List<long>(1 << 16);
        while (Stopwatch.GetTimestamp() < until)
        {
            var start = Stopwatch.GetTimestamp();
            var leased = await scheduler.AcquireAsync(model, cancellationToken);
            if (!leased.Succeeded)
            {
                throw new InvalidOperationException($"no lease on a ready {model}: {leased.Failure.Reason}");
            }

            await leased.Value.DisposeAsync();
            samples.Add(Stopwatch.GetTimestamp() - start);
        }

        return samples;
    }

    private static long Percentile(long[] sorted, double p) => sorted[Math.Min(sorted.Length - 1, (int)(p * sorted.Length))];

    public sealed record Step(int Requesters, double PerSecond, double P50Microseconds, double P99Microseconds, double MaxMicroseconds);
}
