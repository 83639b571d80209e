namespace UnifiedLlm.Daemon.Polling;

/// <summary>
/// When to read each of a changing set of named things, each at an interval of its own: a name is read when it first
/// appears, then once per interval; a name that leaves the set is forgotten, and one whose interval shrank is read at
/// once rather than at the end of its old interval. <see cref="RunAsync"/> is the loop around it.
/// </summary>
internal sealed class PollSchedule(TimeProvider time, TimeSpan idleInterval)
{
    private readonly Dictionary<string, DateTimeOffset> due = new(StringComparer.Ordinal);

    /// <summary>
    /// The names of <paramref name="polled"/> due at <paramref name="now"/>, each marked due again one interval later;
    /// the names no longer polled, which are forgotten.
    /// </summary>
    public (IReadOnlyList<string> Due, IReadOnlyList<string> Gone) Take(IReadOnlyDictionary<string, TimeSpan> polled, DateTimeOffset now)
    {
        var gone = due.Keys.Where(name => !polled.ContainsKey(name)).ToList();
        foreach (var name in gone)
        {
            due.Remove(name);
        }

        var ready = new List<string>();
        foreach (var (name, interval) in polled.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            if (!due.TryGetValue(name, out var at) || at <= now || at - now > interval)
            {
                due[name] = now + interval;
                ready.Add(name);
            }
        }

        return (ready, gone);
    }

    /// <summary>How long the loop sleeps between passes: the shortest interval, or the idle interval when nothing is polled.</summary>
    public TimeSpan Wait(IReadOnlyDictionary<string, TimeSpan> polled) => polled.Count == 0 ? idleInterval : polled.Values.Min();

    /// <summary>
    /// Until <paramref name="stoppingToken"/> is cancelled: reads every due name of <paramref name="polled"/> (asked
    /// again each pass) with <paramref name="read"/>, all at once, tells <paramref name="forget"/> of the names gone, and
    /// sleeps <see cref="Wait"/>. A read must handle its own failures.
    /// </summary>
    public async Task RunAsync(
        Func<IReadOnlyDictionary<string, TimeSpan>> polled,
        Func<string, CancellationToken, Task> read,
        Action<string> forget,
        CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            var current = polled();
            var (ready, gone) = Take(current, time.GetUtcNow());
            foreach (var name in gone)
            {
                forget(name);
            }

            await Task.WhenAll(ready.Select(name => read(name, stoppingToken))).ConfigureAwait(false);
            try
            {
                await Task.Delay(Wait(current), time, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
        }
    }
}
