using Microsoft.Extensions.Time.Testing;
using UnifiedLlm.Daemon.Scheduling;

namespace UnifiedLlm.Tests.Scheduling;

/// <summary>A timer due at an instant: on time even when the clock moves between the reading and the arming.</summary>
public sealed class DeadlineTimerTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 6, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void It_fires_at_the_deadline_and_not_a_tick_before()
    {
        var clock = new FakeTimeProvider(T0);
        var fired = 0;

        using var timer = DeadlineTimer.Start(clock, T0.AddSeconds(60), () => fired++);
        clock.Advance(TimeSpan.FromSeconds(60) - TimeSpan.FromTicks(1));
        Assert.Equal(0, fired);
        clock.Advance(TimeSpan.FromTicks(1));

        Assert.Equal(1, fired);
    }

    [Fact]
    public void A_deadline_already_past_fires_at_once()
    {
        var clock = new FakeTimeProvider(T0);
        var fired = 0;

        using var timer = DeadlineTimer.Start(clock, T0.AddSeconds(-5), () => fired++);

        Assert.Equal(1, fired);
    }

    /// <summary>
    /// The clock moves 30 s between the reading the delay is measured from and the arming (as a test's fake clock advanced
    /// by another thread, or a preempted loop, would): a timer armed for that delay would be due 30 s late.
    /// </summary>
    [Fact]
    public void A_clock_that_moves_while_the_timer_is_armed_does_not_make_it_late()
    {
        var fake = new FakeTimeProvider(T0);
        var clock = new MovingClock(fake, jumpOnRead: 1, TimeSpan.FromSeconds(30), answersBeforeTheJump: true);
        var fired = 0;

        using var timer = DeadlineTimer.Start(clock, T0.AddSeconds(60), () => fired++);
        fake.Advance(TimeSpan.FromSeconds(30) - TimeSpan.FromTicks(1));
        Assert.Equal(0, fired);
        fake.Advance(TimeSpan.FromTicks(1));

        Assert.Equal(1, fired);
    }

    /// <summary>The clock passes the deadline as it is read after the arming: the timer fired, and arming it again does not fire it twice.</summary>
    [Fact]
    public void A_timer_that_fires_while_it_is_armed_again_runs_its_callback_once()
    {
        var fake = new FakeTimeProvider(T0);
        var clock = new MovingClock(fake, jumpOnRead: 2, TimeSpan.FromSeconds(90), answersBeforeTheJump: false);
        var fired = 0;

        using var timer = DeadlineTimer.Start(clock, T0.AddSeconds(60), () => fired++);
        fake.Advance(TimeSpan.FromMinutes(5));

        Assert.Equal(1, fired);
    }

    /// <summary>A ttl may be up to a year; a timer counts at most about 49.7 days, and a longer delay would throw.</summary>
    [Fact]
    public void A_deadline_further_off_than_a_timer_counts_is_armed_on_the_system_clock()
    {
        var fired = 0;

        using var timer = DeadlineTimer.Start(TimeProvider.System, DateTimeOffset.UtcNow.AddDays(365), () => fired++);

        Assert.Equal(0, fired);
    }

    [Fact]
    public void A_deadline_further_off_than_a_timer_counts_fires_after_the_longest_delay_for_the_caller_to_decide_again()
    {
        var clock = new FakeTimeProvider(T0);
        var fired = 0;

        using var timer = DeadlineTimer.Start(clock, T0.AddDays(365), () => fired++);
        clock.Advance(DeadlineTimer.Longest - TimeSpan.FromMilliseconds(1));
        Assert.Equal(0, fired);
        clock.Advance(TimeSpan.FromMilliseconds(1));

        Assert.Equal(1, fired);
        Assert.True(clock.GetUtcNow() < T0.AddDays(365));
    }

    /// <summary>
    /// A fake clock that jumps ahead as it is read for the <c>jumpOnRead</c>th time (firing what falls due), answering the
    /// time before the jump (the clock moved right after that reading) or after it.
    /// </summary>
    private sealed class MovingClock(FakeTimeProvider fake, int jumpOnRead, TimeSpan jump, bool answersBeforeTheJump) : TimeProvider
    {
        private int reads;

        public override DateTimeOffset GetUtcNow()
        {
            var now = fake.GetUtcNow();
            if (Interlocked.Increment(ref reads) != jumpOnRead)
            {
                return now;
            }

            fake.Advance(jump);
            return answersBeforeTheJump ? now : fake.GetUtcNow();
        }

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
            fake.CreateTimer(callback, state, dueTime, period);
    }
}
