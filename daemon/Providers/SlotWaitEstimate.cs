namespace UnifiedLlm.Daemon.Providers;

/// <summary>
/// How long a caller turned away from a backend's queue would have waited for a slot: the mean of the last
/// <see cref="Window"/> slot hold times × the caller's queue position ÷ the backend's slots, rounded up to whole
/// seconds, at least <see cref="Floor"/> and at most <see cref="Ceiling"/>. The mean, not the median: the wait is the
/// sum of the holds ahead, and that sum grows with the long holds too (under load, hold times have a long tail). The
/// backend's first hold counts only until a second one ends: a server's first request warms it up (the tiny test model's
/// took 242 ms against 11–35 ms for the next four) and would inflate every estimate of a short window. Before any hold
/// has ended, the oldest hold still running is the best guess (it has lasted at least that long). Pure: the caller
/// measures the times and holds the lock.
/// </summary>
internal sealed class SlotWaitEstimate
{
    public const int Window = 32;

    public static readonly TimeSpan Floor = TimeSpan.FromSeconds(1);

    /// <summary>Past ten minutes a figure says nothing a client can use; it should come back and be told again.</summary>
    public static readonly TimeSpan Ceiling = TimeSpan.FromMinutes(10);

    private readonly TimeSpan[] recent = new TimeSpan[Window];
    private int count;
    private int next;
    private TimeSpan? warmUp;

    /// <summary>The mean of the recent hold times (the first hold alone until a second ends); null before any has ended.</summary>
    public TimeSpan? MeanHold => count == 0 ? warmUp : TimeSpan.FromTicks(recent.Take(count).Sum(t => t.Ticks) / count);

    /// <summary>A slot was held this long (from being granted to being released).</summary>
    public void Record(TimeSpan hold)
    {
        hold = hold < TimeSpan.Zero ? TimeSpan.Zero : hold;
        if (warmUp is null)
        {
            warmUp = hold;
            return;
        }

        recent[next] = hold;
        next = (next + 1) % Window;
        count = Math.Min(count + 1, Window);
    }

    /// <summary>
    /// The wait of a caller that would be <paramref name="position"/>th in line (1: next to get a slot) for
    /// <paramref name="slots"/> slots, while the oldest running hold began <paramref name="oldestRunning"/> ago (zero when none runs).
    /// </summary>
    public TimeSpan RetryAfter(int position, int slots, TimeSpan oldestRunning)
    {
        var hold = MeanHold ?? oldestRunning;
        var seconds = Math.Ceiling(hold.TotalSeconds * Math.Max(1, position) / Math.Max(1, slots));
        return TimeSpan.FromSeconds(Math.Clamp(seconds, Floor.TotalSeconds, Ceiling.TotalSeconds));
    }
}
