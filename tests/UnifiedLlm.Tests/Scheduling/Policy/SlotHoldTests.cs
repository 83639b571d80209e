using UnifiedLlm.Daemon.Scheduling;

namespace UnifiedLlm.Tests.Scheduling.Policy;

/// <summary>The hold on a model's loads on demand at a given moment, from plain values: its crash hold and its backoff.</summary>
public sealed class SlotHoldTests
{
    private const string CrashReason = "a crashed 3 times within 10 min (last: backend exited: signal 9); held failed until loaded explicitly or the config is reloaded";

    private static readonly DateTimeOffset T0 = new(2026, 12, 6, 12, 0, 0, TimeSpan.Zero);

    private static readonly SlotHold Crashed = new("a", CrashReason, T0, 3, 0, default, null, "");

    private static readonly SlotHold BackingOff = new("a", null, default, 0, 2, T0, T0.AddSeconds(30), "bad magic");

    [Theory]
    [InlineData(-60, 3_600, "CrashLoop: " + CrashReason)]
    [InlineData(0, 3_600, "CrashLoop: " + CrashReason)]
    [InlineData(1, 10, "none")]
    public void A_crash_hold_lasts_until_a_config_loaded_after_it_began(int configLoadedSeconds, int nowSeconds, string expected)
    {
        Assert.Equal(expected, Describe(Crashed.At(T0.AddSeconds(configLoadedSeconds), T0.AddSeconds(nowSeconds))));
    }

    [Theory]
    [InlineData(-60, 10, "Backoff: backing off until 12:00:30 UTC after 2 failures: bad magic")]
    [InlineData(-60, 30, "none")]
    [InlineData(1, 10, "none")]
    public void A_backoff_lasts_until_its_time_or_a_config_loaded_after_the_last_failure(int configLoadedSeconds, int nowSeconds, string expected)
    {
        Assert.Equal(expected, Describe(BackingOff.At(T0.AddSeconds(configLoadedSeconds), T0.AddSeconds(nowSeconds))));
    }

    private static string Describe(LoadHold? hold) => hold is null ? "none" : $"{hold.Kind}: {hold.Describe()}";
}
