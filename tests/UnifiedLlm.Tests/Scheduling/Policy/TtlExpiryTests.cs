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
    [InlineData(true, true, 120_000, "rearm in 60000 ms, closed")]
    [InlineData(true, false, 20_000, "rearm in 40000 ms, open")]
    [InlineData(true, false, 59_999, "rearm in 1 ms, open")]
    [InlineData(true, false, 60_000, "stop: idle for 60 s (ttl)")]
    [InlineData(true, false, 61_000, "stop: idle for 60 s (ttl)")]
    public void A_stale_timer_reopens_a_busy_instance_looks_again_a_ttl_later_and_only_a_whole_ttl_idle_stops(
        bool current, bool leased, int idleMs, string expected)
    {
        var decision = TtlExpiry.Decide(new TtlCheck(current, leased, T0.AddMilliseconds(-idleMs)), Ttl, T0);

        Assert.Equal(expected, Describe(decision));
    }

    [Fact]
    public void A_ttl_decision_never_stops_an_instance_with_leases_and_looks_again_within_a_ttl()
    {
        Gen.Select(Gen.Bool, Gen.Bool, Gen.Int[1, 3_600_000], Gen.Int[-1_000, 7_200_000]).Sample((current, leased, ttlMs, idleMs) =>
        {
            var ttl = TimeSpan.FromMilliseconds(ttlMs);
            var decision = TtlExpiry.Decide(new TtlCheck(current, leased, T0.AddMilliseconds(-idleMs)), ttl, T0);
            switch (decision)
            {
                case TtlDecision.Stop:
                    Assert.True(current && !leased && idleMs >= ttlMs);
                    break;
                case TtlDecision.Rearm rearm:
                    Assert.True(current);
                    Assert.InRange(rearm.Due, TimeSpan.FromTicks(1), ttl + TimeSpan.FromMilliseconds(1_000));
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
        TtlDecision.Rearm rearm => $"rearm in {rearm.Due.TotalMilliseconds} ms, {(rearm.Reopens ? "open" : "closed")}",
        TtlDecision.Stop stop => $"stop: {stop.Reason}",
        _ => throw new ArgumentOutOfRangeException(nameof(decision), decision, "no such decision"),
    };
}
