namespace UnifiedLlm.Daemon.Scheduling;

/// <summary>
/// A one-shot timer due at an instant rather than after a delay. A timer counts its delay from the clock as it reads it
/// when armed, which may be later than the reading the delay was measured from (a thread preempted in between, a test's
/// fake clock advanced meanwhile): the timer would be late by that much. So the delay is measured again and the timer
/// re-armed until an arming saw the clock move less than <see cref="Slack"/>; it then fires at the deadline, late by less
/// than that, never early (unless the deadline is further off than <see cref="Longest"/>). Each iteration moves the clock
/// by at least the slack, so the re-arming ends by the deadline at the latest. The callback runs at most once, even if a
/// re-arming raced a firing.
/// </summary>
internal static class DeadlineTimer
{
    /// <summary>Below a timer's resolution (whole milliseconds).</summary>
    private static readonly TimeSpan Slack = TimeSpan.FromMilliseconds(1);

    /// <summary>
    /// The longest delay a timer takes (about 49.7 days); a longer one throws. A deadline further off fires after this
    /// long instead, before it is due: the caller decides again (a TTL re-arms for its deadline).
    /// </summary>
    public static readonly TimeSpan Longest = TimeSpan.FromMilliseconds(uint.MaxValue - 1);

    public static ITimer Start(TimeProvider time, DateTimeOffset deadline, Action due)
    {
        var fired = 0;
        var timer = time.CreateTimer(
            _ =>
            {
                if (Interlocked.Exchange(ref fired, 1) == 0)
                {
                    due();
                }
            },
            null,
            Timeout.InfiniteTimeSpan,
            Timeout.InfiniteTimeSpan);
        while (true)
        {
            var before = time.GetUtcNow();
            var delay = deadline - before;
            timer.Change(delay <= TimeSpan.Zero ? TimeSpan.Zero : delay < Longest ? delay : Longest, Timeout.InfiniteTimeSpan);
            if (delay <= TimeSpan.Zero || time.GetUtcNow() - before < Slack || Volatile.Read(ref fired) == 1)
            {
                return timer;
            }
        }
    }
}
