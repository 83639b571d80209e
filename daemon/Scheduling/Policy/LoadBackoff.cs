namespace UnifiedLlm.Daemon.Scheduling.Policy;

/// <summary>
/// Failed loads of one model in a row. The first failure is retried on the next request; from the second on, loads on
/// demand wait <see cref="SchedulerOptions.BackoffFirst"/>, doubling with each further failure up to
/// <see cref="SchedulerOptions.BackoffCap"/>. A ready load, an explicit load or a config reload ends it
/// (<see cref="None"/>). A value: each failure makes a new one.
/// </summary>
internal sealed record LoadBackoff(int Failures, string LastReason, DateTimeOffset LastFailedAt, DateTimeOffset? Until)
{
    public static readonly LoadBackoff None = new(0, string.Empty, default, null);

    /// <summary>The backoff after one more failure, at <paramref name="at"/>, for <paramref name="reason"/>.</summary>
    public LoadBackoff Failed(DateTimeOffset at, string reason, SchedulerOptions options)
    {
        var failures = Failures + 1;
        return new LoadBackoff(failures, reason, at, failures < 2 ? null : at + Wait(failures, options));
    }

    private static TimeSpan Wait(int failures, SchedulerOptions options)
    {
        var ticks = options.BackoffFirst.Ticks * Math.Pow(2, failures - 2);
        return ticks >= options.BackoffCap.Ticks ? options.BackoffCap : TimeSpan.FromTicks((long)ticks);
    }
}
