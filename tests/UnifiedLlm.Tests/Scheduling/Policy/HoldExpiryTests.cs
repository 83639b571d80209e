using CsCheck;
using UnifiedLlm.Daemon.Scheduling;
using UnifiedLlm.Daemon.Scheduling.Policy;

namespace UnifiedLlm.Tests.Scheduling.Policy;

/// <summary>What a model's holds come to as a request finds them, and what is forgotten, from plain values.</summary>
public sealed class HoldExpiryTests
{
    private const string CrashReason = "a crashed 3 times within 10 min (last: backend exited: signal 9); held failed until loaded explicitly or the config is reloaded";

    private static readonly DateTimeOffset T0 = new(2026, 12, 6, 12, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData(true, false, -60, 10, "CrashLoop", false, false)]
    [InlineData(true, false, 0, 10, "CrashLoop", false, false)]
    [InlineData(true, false, 1, 10, "none", true, false)]
    [InlineData(false, true, -60, 10, "Backoff", false, false)]
    [InlineData(false, true, -60, 30, "none", false, false)]
    [InlineData(false, true, 1, 10, "none", false, true)]
    [InlineData(true, true, 1, 10, "none", true, true)]
    [InlineData(true, true, -60, 10, "CrashLoop", false, false)]
    [InlineData(false, false, 1, 10, "none", false, false)]
    public void A_config_loaded_after_a_hold_began_ends_it_and_it_is_forgotten(
        bool crashHeld, bool backingOff, int configLoadedSeconds, int nowSeconds, string current, bool forgetsCrashHold, bool forgetsBackoff)
    {
        var hold = Hold(crashHeld, backingOff);

        var settled = HoldExpiry.Settle(hold, T0.AddSeconds(configLoadedSeconds), T0.AddSeconds(nowSeconds));

        Assert.Equal(current, settled.Current?.Kind.ToString() ?? "none");
        Assert.Equal(forgetsCrashHold, settled.ForgetsCrashHold);
        Assert.Equal(forgetsBackoff, settled.ForgetsBackoff);
    }

    /// <summary>Forgetting what the housekeeping says changes no hold in force, and leaves nothing more to forget.</summary>
    [Fact]
    public void Forgetting_what_is_forgotten_leaves_the_same_hold_and_nothing_more_to_forget()
    {
        Gen.Select(Gen.Bool, Gen.Bool, Gen.Int[-120, 120], Gen.Int[0, 120]).Sample((crashHeld, backingOff, configLoadedSeconds, nowSeconds) =>
        {
            var hold = Hold(crashHeld, backingOff);
            var (configLoadedAt, now) = (T0.AddSeconds(configLoadedSeconds), T0.AddSeconds(nowSeconds));
            var settled = HoldExpiry.Settle(hold, configLoadedAt, now);

            var kept = hold with
            {
                HeldFailed = settled.ForgetsCrashHold ? null : hold.HeldFailed,
                Failures = settled.ForgetsBackoff ? 0 : hold.Failures,
                Until = settled.ForgetsBackoff ? null : hold.Until,
            };
            var again = HoldExpiry.Settle(kept, configLoadedAt, now);

            Assert.Equal(settled.Current, again.Current);
            Assert.False(again.ForgetsCrashHold || again.ForgetsBackoff);
        });
    }

    private static SlotHold Hold(bool crashHeld, bool backingOff) => new(
        "a",
        crashHeld ? CrashReason : null,
        crashHeld ? T0 : default,
        crashHeld ? 3 : 0,
        backingOff ? 2 : 0,
        backingOff ? T0 : default,
        backingOff ? T0.AddSeconds(30) : null,
        backingOff ? "bad magic" : "");
}
