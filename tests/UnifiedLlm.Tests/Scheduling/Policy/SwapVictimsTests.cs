using UnifiedLlm.Daemon.Scheduling.Policy;

namespace UnifiedLlm.Tests.Scheduling.Policy;

/// <summary>Which instances stopped for a load serve first, and which begin to stop, from plain values.</summary>
public sealed class SwapVictimsTests
{
    [Theory]
    [InlineData(true, 2, 30, "b: serving 2 request(s) before it is swapped out for a (at most 30 s, [server] max_swap_wait_seconds)")]
    [InlineData(true, 0, 30, null)]
    [InlineData(false, 2, 30, null)]
    [InlineData(true, 2, 0, null)]
    public void Only_a_busy_ready_victim_serves_first_and_only_with_a_swap_wait(bool ready, int leases, int limitSeconds, string? expected)
    {
        Assert.Equal(expected, SwapVictims.ServesFirst("b", ready, leases, "a", TimeSpan.FromSeconds(limitSeconds)));
    }

    [Theory]
    [InlineData(true, true, false, nameof(EvictionStep.Stop))]
    [InlineData(true, false, true, nameof(EvictionStep.AwaitStop))]
    [InlineData(true, false, false, nameof(EvictionStep.Skip))]
    [InlineData(false, true, false, nameof(EvictionStep.Skip))]
    [InlineData(false, false, true, nameof(EvictionStep.Skip))]
    public void A_current_ready_victim_is_stopped_one_stopping_is_awaited_and_one_replaced_or_gone_is_skipped(bool current, bool ready, bool stopping, string expected)
    {
        Assert.Equal(expected, SwapVictims.Evict(current, ready, stopping).ToString());
    }
}
