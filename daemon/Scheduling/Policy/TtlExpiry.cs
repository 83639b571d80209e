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

    /// <summary>Look again after <see cref="Due"/>, the instance taking leases off the loop meanwhile when <see cref="Reopens"/>.</summary>
    public sealed record Rearm(TimeSpan Due, bool Reopens) : TtlDecision;

    /// <summary>Idle for the whole ttl: drain and stop the instance.</summary>
    public sealed record Stop(string Reason) : TtlDecision;
}

/// <summary>
/// The TTL's decision. Leases come and go off the loop, so the timer stays armed while the instance is ready: busy, it
/// looks again a ttl later; idle for less than the ttl, it looks again when the ttl since the last use is up. Timers
/// count whole milliseconds of a monotonic clock and may fire a fraction of one early by the wall clock the last use is
/// kept in: that too waits out the rest. Only an instance with no lease is stopped.
/// </summary>
internal static class TtlExpiry
{
    public static TtlDecision Decide(TtlCheck check, TimeSpan ttl, DateTimeOffset now)
    {
        if (!check.Current)
        {
            return new TtlDecision.Reopen();
        }

        if (check.Leased)
        {
            return new TtlDecision.Rearm(ttl, Reopens: false);
        }

        var idle = now - check.LastUsed;
        return idle < ttl
            ? new TtlDecision.Rearm(ttl - idle, Reopens: true)
            : new TtlDecision.Stop($"idle for {ttl.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s (ttl)");
    }
}
