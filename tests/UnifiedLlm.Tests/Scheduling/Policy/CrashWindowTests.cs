using CsCheck;
using UnifiedLlm.Daemon.Scheduling;
using UnifiedLlm.Daemon.Scheduling.Policy;

namespace UnifiedLlm.Tests.Scheduling.Policy;

/// <summary>The crash breaker's window and hold, from plain values: no backend, clock or slot.</summary>
public sealed class CrashWindowTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 6, 12, 0, 0, TimeSpan.Zero);

    private static readonly SchedulerOptions Options = new() { CrashLimit = 3, CrashWindow = TimeSpan.FromMinutes(10) };

    [Theory]
    [InlineData("", 9, 1, false)]
    [InlineData("0", 9, 2, false)]
    [InlineData("0 5", 9, 3, true)]
    [InlineData("0 5", 11, 2, false)]
    [InlineData("0 1 2", 10, 4, true)]
    [InlineData("0 1 2", 30, 1, false)]
    public void Crashes_older_than_the_window_are_forgotten_and_the_limit_within_it_holds_the_model(string crashMinutes, int nowMinute, int kept, bool held)
    {
        var now = T0.AddMinutes(nowMinute);
        var crashes = crashMinutes.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(m => T0.AddMinutes(int.Parse(m))).ToList();

        var verdict = CrashWindow.BackendLost("a", "backend exited: signal 9", crashes, now, Options);

        Assert.Equal(kept, verdict.Window.Count);
        Assert.Equal(now, verdict.Window[^1]);
        Assert.Equal(held, verdict.HeldFailed is not null);
    }

    [Fact]
    public void The_hold_names_the_crashes_the_window_and_the_last_failure_and_is_what_is_published()
    {
        var verdict = CrashWindow.BackendLost("a", "backend exited: signal 9", [T0, T0.AddMinutes(1)], T0.AddMinutes(2), Options);

        const string Held = "a crashed 3 times within 10 min (last: backend exited: signal 9); held failed until loaded explicitly or the config is reloaded";
        Assert.Equal((Held, Held), (verdict.HeldFailed, verdict.Reason));
        Assert.Equal("a: backend exited: signal 9", CrashWindow.BackendLost("a", "backend exited: signal 9", [], T0, Options).Reason);
    }

    /// <summary>
    /// Crashes heard of one after another, each decided on the window the last one left: the window holds exactly the
    /// crashes within it, oldest first, and the model is held exactly when they reach the limit.
    /// </summary>
    [Fact]
    public void The_window_never_holds_more_than_the_crashes_within_it_and_holds_the_model_exactly_at_the_limit()
    {
        var gaps = Gen.Int[0, 15 * 60].List[1, 12];
        var options = Gen.Select(Gen.Int[1, 5], Gen.Int[1, 15]).Select((limit, minutes) => new SchedulerOptions { CrashLimit = limit, CrashWindow = TimeSpan.FromMinutes(minutes) });
        Gen.Select(gaps, options).Sample((secondsApart, opts) =>
        {
            IReadOnlyList<DateTimeOffset> window = [];
            List<DateTimeOffset> all = [];
            var now = T0;
            foreach (var gap in secondsApart)
            {
                now = now.AddSeconds(gap);
                all.Add(now);
                var verdict = CrashWindow.BackendLost("a", "lost", window, now, opts);
                window = verdict.Window;

                Assert.Equal(all.Where(at => now - at <= opts.CrashWindow), window);
                Assert.Equal(window.Count >= opts.CrashLimit, verdict.HeldFailed is not null);
            }
        }, iter: 2_000);
    }
}
