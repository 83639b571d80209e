namespace UnifiedLlm.Daemon.Gateway;

/// <summary>
/// A per-minute budget refilled continuously. Requests take one unit up front; tokens are charged after the fact and may
/// drive it below zero, so that the next request waits until the overdraft is paid back.
/// </summary>
internal sealed class TokenBucket(double perMinute, long now)
{
    private readonly Lock gate = new();
    private double available = perMinute;
    private long updated = now;

    public double PerMinute { get; } = perMinute;

    /// <summary>Takes <paramref name="amount"/> if the bucket has at least that much (or any, when <paramref name="amount"/> is 0).</summary>
    public bool TryTake(double amount, long now, TimeProvider time, out TimeSpan retryAfter)
    {
        lock (gate)
        {
            Refill(now, time);
            var needed = Math.Max(amount, double.Epsilon);
            if (available >= needed)
            {
                available -= amount;
                retryAfter = TimeSpan.Zero;
                return true;
            }

            retryAfter = TimeSpan.FromMinutes((needed - available) / PerMinute);
            return false;
        }
    }

    public void Charge(double amount, long now, TimeProvider time)
    {
        lock (gate)
        {
            Refill(now, time);
            available -= amount;
        }
    }

    private void Refill(long now, TimeProvider time)
    {
        available = Math.Min(PerMinute, available + (time.GetElapsedTime(updated, now).TotalMinutes * PerMinute));
        updated = now;
    }
}
