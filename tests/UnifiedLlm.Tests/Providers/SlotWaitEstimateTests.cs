using Microsoft.Extensions.Time.Testing;
using UnifiedLlm.Daemon.Providers;

namespace UnifiedLlm.Tests.Providers;

/// <summary>Retry-After from recent slot hold times (issue #21): the pure estimate, and a backend's admission on a fake clock.</summary>
public sealed class SlotWaitEstimateTests
{
    [Fact]
    public void The_wait_is_the_mean_hold_times_the_position_over_the_slots_rounded_up_to_whole_seconds()
    {
        var estimate = new SlotWaitEstimate();
        // The backend's first hold (its warm-up) is left out once others have ended.
        foreach (var ms in new[] { 900, 300, 100, 200, 250, 150 })
        {
            estimate.Record(TimeSpan.FromMilliseconds(ms));
        }

        Assert.Equal(TimeSpan.FromMilliseconds(200), estimate.MeanHold);
        Assert.Equal(TimeSpan.FromSeconds(13), estimate.RetryAfter(position: 65, slots: 1, TimeSpan.Zero));
        Assert.Equal(TimeSpan.FromSeconds(4), estimate.RetryAfter(position: 65, slots: 4, TimeSpan.Zero));
        Assert.Equal(TimeSpan.FromSeconds(1), estimate.RetryAfter(position: 2, slots: 1, TimeSpan.Zero));
    }

    [Fact]
    public void A_long_hold_counts_as_its_share_of_the_window_and_the_window_forgets_old_holds()
    {
        var estimate = new SlotWaitEstimate();
        estimate.Record(TimeSpan.FromSeconds(5));
        for (var i = 0; i < SlotWaitEstimate.Window - 1; i++)
        {
            estimate.Record(TimeSpan.FromMilliseconds(100));
        }

        // The wait is a sum of holds: one in 32 lasting 32.9 s adds about a second to each.
        estimate.Record(TimeSpan.FromMilliseconds(32_900));
        Assert.Equal(TimeSpan.FromMilliseconds(1125), estimate.MeanHold);
        Assert.Equal(TimeSpan.FromSeconds(72), estimate.RetryAfter(position: 64, slots: 1, TimeSpan.Zero));

        for (var i = 0; i < SlotWaitEstimate.Window; i++)
        {
            estimate.Record(TimeSpan.FromSeconds(2));
        }

        Assert.Equal(TimeSpan.FromSeconds(2), estimate.MeanHold);
        Assert.Equal(TimeSpan.FromSeconds(20), estimate.RetryAfter(position: 10, slots: 1, TimeSpan.Zero));
    }

    [Fact]
    public void Without_an_ended_hold_the_oldest_running_one_is_the_guess_and_the_result_stays_between_floor_and_ceiling()
    {
        var estimate = new SlotWaitEstimate();

        Assert.Null(estimate.MeanHold);
        Assert.Equal(SlotWaitEstimate.Floor, estimate.RetryAfter(position: 5, slots: 1, TimeSpan.Zero));
        Assert.Equal(TimeSpan.FromSeconds(15), estimate.RetryAfter(position: 5, slots: 1, TimeSpan.FromSeconds(3)));

        estimate.Record(TimeSpan.FromMinutes(30));
        Assert.Equal(SlotWaitEstimate.Ceiling, estimate.RetryAfter(position: 64, slots: 1, TimeSpan.Zero));
    }

    [Fact]
    public void The_first_hold_is_the_estimate_only_until_a_second_one_ends()
    {
        var estimate = new SlotWaitEstimate();
        estimate.Record(TimeSpan.FromMilliseconds(800));
        Assert.Equal(TimeSpan.FromMilliseconds(800), estimate.MeanHold);

        estimate.Record(TimeSpan.FromMilliseconds(20));
        Assert.Equal(TimeSpan.FromMilliseconds(20), estimate.MeanHold);
        Assert.Equal(TimeSpan.FromSeconds(2), estimate.RetryAfter(position: 65, slots: 1, TimeSpan.Zero));
    }

    [Fact]
    public async Task A_full_queue_is_told_the_wait_its_place_would_have_had_from_the_holds_timed_on_the_clock()
    {
        var ct = TestContext.Current.CancellationToken;
        var time = new FakeTimeProvider();
        var admission = new RequestAdmission(slots: 1, queueCapacity: 2, TimeSpan.FromMinutes(5), time);
        foreach (var ms in new[] { 9000, 1500, 2000, 2500 })
        {
            var served = await admission.EnterAsync(ct);
            time.Advance(TimeSpan.FromMilliseconds(ms));
            served.Slot!.Dispose();
        }

        var holding = await admission.EnterAsync(ct);
        var first = admission.EnterAsync(ct);
        var second = admission.EnterAsync(ct);
        var refused = await admission.EnterAsync(ct);

        // After the warm-up's 9 s, holds of 1.5, 2 and 2.5 s: mean 2 s; behind one running and two waiting the caller would be third in line.
        Assert.Equal(AdmissionRefusal.QueueFull, refused.Refusal);
        Assert.Equal(TimeSpan.FromSeconds(6), refused.RetryAfter);

        holding.Slot!.Dispose();
        (await first).Slot!.Dispose();
        (await second).Slot!.Dispose();
    }

    [Fact]
    public async Task A_wait_that_times_out_is_told_the_wait_from_the_back_of_the_line()
    {
        var ct = TestContext.Current.CancellationToken;
        var time = new FakeTimeProvider();
        var admission = new RequestAdmission(slots: 1, queueCapacity: 4, TimeSpan.FromSeconds(30), time);
        var holding = await admission.EnterAsync(ct);
        var waiting = admission.EnterAsync(ct).AsTask();

        time.Advance(TimeSpan.FromSeconds(31));
        var refused = await waiting;

        // No hold has ended yet: the running one has lasted 31 s, so the next in line waits at least that.
        Assert.Equal(AdmissionRefusal.TimedOut, refused.Refusal);
        Assert.Equal(TimeSpan.FromSeconds(31), refused.RetryAfter);
        holding.Slot!.Dispose();
    }
}
