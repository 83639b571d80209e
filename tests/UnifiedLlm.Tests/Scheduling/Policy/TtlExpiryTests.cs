using CsCheck;
using UnifiedLlm.Daemon.Scheduling.Policy;

namespace UnifiedLlm.Tests.Scheduling.Policy;

/// <summary>What a TTL timer that fired decides, from plain values: no timer, clock or instance.</summary>
public sealed class TtlExpiryTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 6, 12, 0, 0, TimeSpan.Zero);

    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(60);

    [Theory]
    [InlineData(false, false, 120_000, "reopen")]
    [InlineData(false, true, 0, "reopen")]
    [InlineData(true, true, 120_000, "rearm at +60000 ms, closed")]
    [InlineData(true, false, 20_000, "rearm at +40000 ms, open")]
    [InlineData(true, false, 59_999, "rearm at +1 ms, open")]
    [InlineData(true, false, 60_000, "stop: idle for 60 s (ttl)")]
    [InlineData(true, false, 61_000, "stop: idle for 60 s (ttl)")]
    public void A_stale_timer_reopens_a_busy_instance_looks_again_a_ttl_later_and_only_a_whole_ttl_idle_stops(
        bool current, bool leased, int idleMs, string expected)
    {
        var decision = TtlExpiry.Decide(new TtlCheck(current, leased, T0.AddMilliseconds(-idleMs)), Ttl, T0);

        Assert.Equal(expected, Describe(decision));
    }

    [Fact]
    public void A_timer_that_fires_a_fraction_of_a_millisecond_early_waits_for_the_same_deadline()
    {
        var lastUsed = T0.AddSeconds(-60).AddTicks(3_000);

        var decision = TtlExpiry.Decide(new TtlCheck(true, false, lastUsed), Ttl, T0);

        Assert.Equal(new TtlDecision.Rearm(lastUsed + Ttl, Reopens: true), decision);
    }

    /// <summary>
    /// The deadline is an instant, not a delay: idle, it is exactly the last use plus the ttl, whenever the timer is
    /// handled; busy, a ttl after now; never before now, and only an instance idle for the whole ttl is stopped.
    /// </summary>
    [Fact]
    public void A_ttl_deadline_is_the_last_use_plus_the_ttl_when_idle_a_ttl_from_now_when_busy_and_never_before_now()
    {
        Gen.Select(Gen.Bool, Gen.Bool, Gen.Int[1, 3_600_000], Gen.Int[-1_000, 7_200_000], Gen.Int[0, 600_000]).Sample((current, leased, ttlMs, idleMs, lateMs) =>
        {
            var ttl = TimeSpan.FromMilliseconds(ttlMs);
            var lastUsed = T0.AddMilliseconds(-idleMs);
            var now = T0.AddMilliseconds(lateMs);
            var decision = TtlExpiry.Decide(new TtlCheck(current, leased, lastUsed), ttl, now);
            switch (decision)
            {
                case TtlDecision.Stop:
                    Assert.True(current && !leased && now - lastUsed >= ttl);
                    break;
                case TtlDecision.Rearm rearm:
                    Assert.True(current);
                    Assert.True(rearm.Deadline > now, $"deadline {rearm.Deadline:O} before now {now:O}");
                    Assert.Equal(leased ? now + ttl : lastUsed + ttl, rearm.Deadline);
                    Assert.Equal(!leased, rearm.Reopens);
                    break;
                default:
                    Assert.False(current);
                    break;
            }
        }, iter: 10_000);
    }

    private static string Describe(TtlDecision decision) => decision switch
    {
        TtlDecision.Reopen => "reopen",
        TtlDecision.Rearm rearm => $"rearm at +{(rearm.Deadline - T0).TotalMilliseconds} ms, {(rearm.Reopens ? "open" : "closed")}",
        TtlDecision.Stop stop => $"stop: {stop.Reason}",
        _ => throw new ArgumentOutOfRangeException(nameof(decision), decision, "no such decision"),
    };
}
