namespace UnifiedLlm.Daemon.Scheduling;

/// <summary>
/// Failed loads of one model in a row. The first failure is retried on the next request; from the second on, loads on
/// demand wait <see cref="SchedulerOptions.BackoffFirst"/>, doubling with each further failure up to
/// <see cref="SchedulerOptions.BackoffCap"/>. A ready load resets it. Mutated only on the scheduler's loop.
/// </summary>
internal sealed class LoadBackoff
{
    public int Failures { get; private set; }

    public string LastReason { get; private set; } = string.Empty;

    public DateTimeOffset LastFailedAt { get; private set; }

    /// <summary>Until when loads on demand are refused; null while none are.</summary>
    public DateTimeOffset? Until { get; private set; }

    public void Failed(DateTimeOffset at, string reason, SchedulerOptions options)
    {
        Failures++;
        LastReason = reason;
        LastFailedAt = at;
        Until = Failures < 2 ? null : at + Wait(Failures, options);
    }

    public void Reset()
    {
        Failures = 0;
        LastReason = string.Empty;
        Until = null;
    }

    /// <summary>How long loads on demand are still refused at <paramref name="now"/>; null when they are not.</summary>
    public TimeSpan? Remaining(DateTimeOffset now) => Until is { } until && until > now ? until - now : null;

    private static TimeSpan Wait(int failures, SchedulerOptions options)
    {
        var ticks = options.BackoffFirst.Ticks * Math.Pow(2, failures - 2);
        return ticks >= options.BackoffCap.Ticks ? options.BackoffCap : TimeSpan.FromTicks((long)ticks);
    }
}
