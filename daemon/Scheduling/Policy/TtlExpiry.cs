using System.Globalization;

namespace UnifiedLlm.Daemon.Scheduling.Policy;

/// <summary>
/// A model's TTL timer as it fired: whether it is still the one that counts (the slot's armed timer, on the slot's ready
/// instance), whether a lease was held when it tried to close the instance, and the instance's last use read after that.
/// </summary>
internal sealed record TtlCheck(bool Current, bool Leased, DateTimeOffset LastUsed);

/// <summary>What a TTL timer that fired leads to.</summary>
internal abstract record TtlDecision
{
    private TtlDecision()
    {
    }

    /// <summary>A stale timer: the instance takes leases off the loop again, if it may; nothing else.</summary>
    public sealed record Reopen : TtlDecision;

    /// <summary>Look again at <see cref="Deadline"/>, the instance taking leases off the loop meanwhile when <see cref="Reopens"/>.</summary>
    public sealed record Rearm(DateTimeOffset Deadline, bool Reopens) : TtlDecision;

    /// <summary>Idle for the whole ttl: drain and stop the instance.</summary>
    public sealed record Stop(string Reason) : TtlDecision;
}

/// <summary>
/// The TTL's decision, as a deadline. Leases come and go off the loop, so the timer stays armed while the instance is
/// ready: busy, it looks again a ttl after <c>now</c>; idle for less than the ttl, it looks again exactly at the last
/// use plus the ttl, an instant that does not move however late the loop handles the timer. Timers count whole
/// milliseconds of a monotonic clock and may fire a fraction of one early by the wall clock the last use is kept in:
/// that too waits for the deadline. Only an instance with no lease is stopped.
/// </summary>
internal static class TtlExpiry
{
    /// <summary>The decision at <paramref name="now"/>, which the caller reads before it looks at the leases: a lease seen then was held at or after it.</summary>
    public static TtlDecision Decide(TtlCheck check, TimeSpan ttl, DateTimeOffset now)
    {
        if (!check.Current)
        {
            return new TtlDecision.Reopen();
        }

        if (check.Leased)
        {
            return new TtlDecision.Rearm(now + ttl, Reopens: false);
        }

        var deadline = check.LastUsed + ttl;
        return now < deadline
            ? new TtlDecision.Rearm(deadline, Reopens: true)
            : new TtlDecision.Stop($"idle for {ttl.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s (ttl)");
    }
}
